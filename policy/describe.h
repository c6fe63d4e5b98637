#pragma once
// Shared helpers of the reviewer tools (check, explain, who-can, diff): rules as text, and the
// "is this pattern / who / when at least as broad as that one" relations the analyses use.
// The relations are sound but incomplete: true means every operation or principal the second
// one admits, the first admits too; false may also mean "could not tell".

#include <string>
#include <string_view>
#include <vector>

#include "policy/model.h"

namespace stepgate::policy {

// "groups: [ops]; subjects: [alice]; claims: [tenant = acme]"; "anyone" when empty.
std::string describeWho(const Who& who);
// "mfa; source_ip: [10.0.0.0/8]; time: Mon-Fri ...; input: [/amount <= 1000]"; "" when none.
std::string describeWhen(const When& when);
// "[a, b]".
std::string describeList(const std::vector<std::string>& items);

// Every name `narrow` matches, `wide` matches.
bool patternCovers(std::string_view wide, std::string_view narrow);
// Every name matched by some pattern of `narrow`, some pattern of `wide` matches. An empty
// list means "any" (for steps and namespaces) and covers everything; an empty `narrow` is covered
// only by an empty `wide`.
bool patternsCover(const std::vector<std::string>& wide, const std::vector<std::string>& narrow);
// Every principal `narrow` admits, `wide` admits (field-wise: each field of `wide` is empty or
// a superset of the same, non-empty, field of `narrow`).
bool whoCovers(const Who& wide, const Who& narrow);
// Every condition of `wide` also appears in `narrow` (so whenever `narrow` holds, `wide` does).
bool whenCovers(const When& wide, const When& narrow);
bool whenEmpty(const When& when);

}  // namespace stepgate::policy
