#include "pool/ensure.h"

#include "pool/errc.h"

namespace brokerside::pool {
namespace {

ensure_op::action done(std::error_code ec) { return {ensure_op::next::done, millis(0), ec}; }

}  // namespace

ensure_op::ensure_op(const retry_settings& settings, bool idempotent, time_point deadline) noexcept
    : settings_(settings), idempotent_(idempotent), deadline_(deadline) {}

ensure_op::action ensure_op::start(time_point now) noexcept {
  if (now >= deadline_) return done(errc::deadline_exceeded);
  return {next::attempt, millis(0), {}};
}

ensure_op::action ensure_op::resume(time_point now, const attempt_result& result,
                                    retry_budget& budget, double u) noexcept {
  if (!result.error) return done({});
  if (result.kind == failure_kind::operation) return done(result.error);
  if (result.written && !idempotent_ && result.kind != failure_kind::try_again) {
    return done(errc::outcome_unknown);
  }
  if (now >= deadline_) return done(errc::deadline_exceeded);
  if (retries_ >= settings_.max_retries) return done(errc::unavailable);
  const auto delay = backoff(settings_).delay(retries_ + 1, u);
  // Waiting past the deadline would only turn UNAVAILABLE into a slower
  // DEADLINE_EXCEEDED; say what is known now.
  if (now + delay >= deadline_) return done(errc::unavailable);
  if (!budget.try_retry(now)) return done(errc::retry_budget_exhausted);
  ++retries_;
  return {next::wait, delay, {}};
}

}  // namespace brokerside::pool
