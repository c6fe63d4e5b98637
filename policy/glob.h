#pragma once
// Name patterns of the policy language: a workflow or step name, or a glob where `*` matches
// any run of characters (including none) and `?` exactly one. Nothing else is special; the
// characters [ ] { } \ are rejected so that a reviewer never has to wonder whether they are.
// Pure functions; safe from any thread.

#include <string>
#include <string_view>

namespace stepgate::policy {

// True iff `text` contains `*` or `?`.
bool isGlob(std::string_view text) noexcept;

// "" when `text` is a valid name or glob, else a message ("empty", "contains '['"...).
std::string checkPattern(std::string_view text);

// True iff `text` matches `pattern`. Allocation-free, linear backtracking (O(n*m) worst case).
bool globMatch(std::string_view pattern, std::string_view text) noexcept;

}  // namespace stepgate::policy
