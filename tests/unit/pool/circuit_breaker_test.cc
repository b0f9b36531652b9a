#include "pool/circuit_breaker.h"

#include <gtest/gtest.h>

namespace brokerside::pool {
namespace {

const time_point t0 = time_point{} + std::chrono::hours(1);

circuit_breaker make(std::uint32_t threshold) {
  breaker_settings s;
  s.failure_threshold = threshold;
  s.open_timeout = millis(5000);
  return circuit_breaker(s);
}

TEST(circuit_breaker, opens_after_consecutive_failures) {
  auto b = make(3);
  EXPECT_TRUE(b.allow_connect(t0));
  b.on_failure(t0);
  b.on_failure(t0);
  EXPECT_EQ(b.state(), breaker_state::closed);
  EXPECT_FALSE(b.failing_fast());
  b.on_failure(t0);
  EXPECT_EQ(b.state(), breaker_state::open);
  EXPECT_TRUE(b.failing_fast());
  EXPECT_FALSE(b.allow_connect(t0 + millis(4999)));
}

TEST(circuit_breaker, a_success_resets_the_count) {
  auto b = make(3);
  b.on_failure(t0);
  b.on_failure(t0);
  b.on_success();
  b.on_failure(t0);
  b.on_failure(t0);
  EXPECT_EQ(b.state(), breaker_state::closed);
  EXPECT_EQ(b.consecutive_failures(), 2u);
}

TEST(circuit_breaker, half_opens_with_exactly_one_probe) {
  auto b = make(1);
  b.on_failure(t0);
  ASSERT_EQ(b.state(), breaker_state::open);
  EXPECT_EQ(b.retry_at(), t0 + millis(5000));
  EXPECT_TRUE(b.allow_connect(t0 + millis(5000)));
  EXPECT_EQ(b.state(), breaker_state::half_open);
  EXPECT_TRUE(b.failing_fast());
  EXPECT_FALSE(b.allow_connect(t0 + millis(5001)));  // the probe is out
}

TEST(circuit_breaker, probe_success_closes) {
  auto b = make(1);
  b.on_failure(t0);
  ASSERT_TRUE(b.allow_connect(t0 + millis(6000)));
  b.on_success();
  EXPECT_EQ(b.state(), breaker_state::closed);
  EXPECT_TRUE(b.allow_connect(t0 + millis(6000)));
}

TEST(circuit_breaker, probe_failure_reopens_for_a_full_timeout) {
  auto b = make(5);
  for (int i = 0; i < 5; ++i) b.on_failure(t0);
  ASSERT_TRUE(b.allow_connect(t0 + millis(6000)));
  b.on_failure(t0 + millis(6000));
  EXPECT_EQ(b.state(), breaker_state::open);
  EXPECT_FALSE(b.allow_connect(t0 + millis(10999)));
  EXPECT_TRUE(b.allow_connect(t0 + millis(11000)));
}

TEST(circuit_breaker, late_failures_do_not_extend_an_open_breaker) {
  auto b = make(1);
  b.on_failure(t0);
  b.on_failure(t0 + millis(4000));  // an attempt started before it opened
  EXPECT_EQ(b.retry_at(), t0 + millis(5000));
}

TEST(circuit_breaker, threshold_zero_never_opens) {
  auto b = make(0);
  for (int i = 0; i < 100; ++i) b.on_failure(t0);
  EXPECT_EQ(b.state(), breaker_state::closed);
  EXPECT_TRUE(b.allow_connect(t0));
}

}  // namespace
}  // namespace brokerside::pool
