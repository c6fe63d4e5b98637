#include "policy/conditions.h"

#include <chrono>

namespace stepgate::policy {

bool inWindow(const TimeWindow& w, SystemTime now) noexcept {
  const int64_t utc =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const int64_t local = utc + w.zone->offsetAt(utc);
  int64_t days = local / 86400;
  int64_t secs = local % 86400;
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  const auto weekday = static_cast<unsigned>(((days % 7) + 10) % 7);  // 0 = Monday
  const auto minute = static_cast<uint16_t>(secs / 60);
  auto day_in = [&](unsigned d) { return (w.days >> d & 1u) != 0; };
  if (w.start_minute < w.end_minute) {
    return day_in(weekday) && minute >= w.start_minute && minute < w.end_minute;
  }
  // Past midnight: the window opens on a listed day and closes the next morning.
  return (day_in(weekday) && minute >= w.start_minute) ||
         (day_in((weekday + 6) % 7) && minute < w.end_minute);
}

Tri compareInput(const InputCondition& c, const Operation& op) noexcept {
  const InputField* f = op.findInput(c.path);
  if (f == nullptr || f->is_number != c.is_number) {
    return Tri::kUnknown;
  }
  if (!c.is_number) {
    const bool eq = f->text == c.text;
    return of(c.op == CompareOp::kEq ? eq : !eq);
  }
  const double a = f->number;
  const double b = c.number;
  switch (c.op) {
    case CompareOp::kEq:
      return of(a == b);
    case CompareOp::kNe:
      return of(a != b);
    case CompareOp::kLt:
      return of(a < b);
    case CompareOp::kLe:
      return of(a <= b);
    case CompareOp::kGt:
      return of(a > b);
    case CompareOp::kGe:
      return of(a >= b);
  }
  return Tri::kFalse;
}

Tri matchClaim(const ClaimCondition& c, const Context& ctx) noexcept {
  if (ctx.claims == nullptr)
    return Tri::kUnknown;
  if (c.kind == ClaimCondition::Kind::kExists)
    return of(ctx.claims->has(c.claim) == c.exists);
  for (const std::string& v : c.values) {
    if (ctx.claims->equals(c.claim, v))
      return Tri::kTrue;
  }
  return Tri::kFalse;
}

}  // namespace stepgate::policy
