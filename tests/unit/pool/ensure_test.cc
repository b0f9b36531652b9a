#include "pool/ensure.h"

#include <gtest/gtest.h>

#include "pool/errc.h"

namespace brokerside::pool {
namespace {

const time_point t0 = time_point{} + std::chrono::hours(1);
const std::error_code reset = std::make_error_code(std::errc::connection_reset);

retry_settings settings(std::uint32_t max_retries) {
  retry_settings s;
  s.max_retries = max_retries;
  s.initial_interval = millis(100);
  s.multiplier = 2;
  s.max_interval = millis(1000);
  s.jitter = 0;
  s.budget_ratio = 0;
  s.budget_min_per_second = 100;
  return s;
}

attempt_result connection_lost(bool written) { return {reset, failure_kind::connection, written}; }

TEST(ensure, success_at_once) {
  const auto s = settings(3);
  retry_budget budget(s);
  ensure_op op(s, false, t0 + millis(5000));
  EXPECT_EQ(op.start(t0).what, ensure_op::next::attempt);
  const auto a = op.resume(t0, {}, budget, 0.5);
  EXPECT_EQ(a.what, ensure_op::next::done);
  EXPECT_FALSE(a.result);
}

TEST(ensure, past_deadline_never_attempts) {
  const auto s = settings(3);
  ensure_op op(s, true, t0);
  const auto a = op.start(t0);
  EXPECT_EQ(a.what, ensure_op::next::done);
  EXPECT_EQ(a.result, make_error_code(errc::deadline_exceeded));
}

TEST(ensure, connection_errors_retry_with_backoff_then_give_up_unavailable) {
  const auto s = settings(3);
  retry_budget budget(s);
  ensure_op op(s, false, t0 + millis(60'000));
  auto now = t0;
  ASSERT_EQ(op.start(now).what, ensure_op::next::attempt);
  for (const auto expected : {millis(100), millis(200), millis(400)}) {
    const auto a = op.resume(now, connection_lost(false), budget, 0.5);
    ASSERT_EQ(a.what, ensure_op::next::wait);
    EXPECT_EQ(a.delay, expected);
    now += a.delay;
  }
  EXPECT_EQ(op.retries(), 3u);
  const auto a = op.resume(now, connection_lost(false), budget, 0.5);
  EXPECT_EQ(a.what, ensure_op::next::done);
  EXPECT_EQ(a.result, make_error_code(errc::unavailable));
}

TEST(ensure, zero_retries_fails_on_the_first_error) {
  const auto s = settings(0);
  retry_budget budget(s);
  ensure_op op(s, true, t0 + millis(60'000));
  op.start(t0);
  const auto a = op.resume(t0, connection_lost(false), budget, 0.5);
  EXPECT_EQ(a.what, ensure_op::next::done);
  EXPECT_EQ(a.result, make_error_code(errc::unavailable));
}

TEST(ensure, written_non_idempotent_is_aborted_outcome_unknown) {
  const auto s = settings(3);
  retry_budget budget(s);
  ensure_op op(s, false, t0 + millis(60'000));
  op.start(t0);
  const auto a = op.resume(t0, connection_lost(true), budget, 0.5);
  EXPECT_EQ(a.what, ensure_op::next::done);
  EXPECT_EQ(a.result, make_error_code(errc::outcome_unknown));
}

TEST(ensure, written_idempotent_is_re_applied) {
  const auto s = settings(3);
  retry_budget budget(s);
  ensure_op op(s, true, t0 + millis(60'000));
  op.start(t0);
  EXPECT_EQ(op.resume(t0, connection_lost(true), budget, 0.5).what, ensure_op::next::wait);
}

TEST(ensure, try_again_is_retried_even_when_written_and_not_idempotent) {
  // The broker said it did not run it (Redis TRYAGAIN, LOADING): safe to
  // run again, whatever the operation, until the retries run out.
  const auto s = settings(2);
  retry_budget budget(s);
  ensure_op op(s, false, t0 + millis(60'000));
  op.start(t0);
  const attempt_result busy{make_error_code(errc::unavailable), failure_kind::try_again, true};
  EXPECT_EQ(op.resume(t0, busy, budget, 0.5).what, ensure_op::next::wait);
  EXPECT_EQ(op.resume(t0, busy, budget, 0.5).what, ensure_op::next::wait);
  const auto a = op.resume(t0, busy, budget, 0.5);
  EXPECT_EQ(a.what, ensure_op::next::done);
  EXPECT_EQ(a.result, make_error_code(errc::unavailable));
}

TEST(ensure, operation_errors_are_never_retried) {
  const auto s = settings(3);
  retry_budget budget(s);
  ensure_op op(s, true, t0 + millis(60'000));
  op.start(t0);
  const auto refused = make_error_code(errc::broker_refused);
  const auto a = op.resume(t0, {refused, failure_kind::operation, true}, budget, 0.5);
  EXPECT_EQ(a.what, ensure_op::next::done);
  EXPECT_EQ(a.result, refused);
  EXPECT_EQ(op.retries(), 0u);
}

TEST(ensure, retries_never_outlive_the_deadline) {
  const auto s = settings(10);
  retry_budget budget(s);
  ensure_op op(s, true, t0 + millis(250));
  auto now = t0;
  op.start(now);
  auto a = op.resume(now, connection_lost(false), budget, 0.5);
  ASSERT_EQ(a.what, ensure_op::next::wait);  // 100 ms: before the deadline
  now += a.delay;
  a = op.resume(now, connection_lost(false), budget, 0.5);
  // The next wait (200 ms) would end past the deadline: give up now.
  EXPECT_EQ(a.what, ensure_op::next::done);
  EXPECT_EQ(a.result, make_error_code(errc::unavailable));
  a = op.resume(t0 + millis(300), connection_lost(false), budget, 0.5);
  EXPECT_EQ(a.result, make_error_code(errc::deadline_exceeded));
}

TEST(ensure, an_empty_budget_stops_retries) {
  auto s = settings(3);
  s.budget_min_per_second = 0;
  retry_budget budget(s);
  ensure_op op(s, true, t0 + millis(60'000));
  op.start(t0);
  const auto a = op.resume(t0, connection_lost(false), budget, 0.5);
  EXPECT_EQ(a.what, ensure_op::next::done);
  EXPECT_EQ(a.result, make_error_code(errc::retry_budget_exhausted));
}

}  // namespace
}  // namespace brokerside::pool
