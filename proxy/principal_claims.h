#pragma once
// PrincipalClaims: the policy's view (policy::ClaimLookup) of the claims an identity provider
// vouched for — a verified token's payload or an introspection answer. Lives on the stack for
// one evaluation; reads only; no allocation.
//
// A claim name starting with '/' is a JSON pointer (RFC 6901), any other is a top-level member
// (so "cognito:groups" works), as in the identity claim mapping. equals() compares strings as
// they are, booleans as "true"/"false", integers in decimal; with an array value, any element
// may match. Fractional numbers, objects and null never equal anything.

#include <string_view>

#include "common/json.h"
#include "policy/decision.h"

namespace stepgate::proxy {

class PrincipalClaims final : public policy::ClaimLookup {
 public:
  // `claims` may be null (no claims known); it must outlive this object.
  explicit PrincipalClaims(const JsonValue* claims) : claims_(claims) {}

  // policy::ClaimLookup
  bool has(std::string_view claim) const noexcept override;
  bool equals(std::string_view claim, std::string_view value) const noexcept override;

 private:
  const JsonValue* claims_;
};

}  // namespace stepgate::proxy
