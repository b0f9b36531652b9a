#include "pool/backoff.h"

#include <gtest/gtest.h>

namespace brokerside::pool {
namespace {

retry_settings settings(double jitter) {
  retry_settings s;
  s.initial_interval = millis(100);
  s.multiplier = 2;
  s.max_interval = millis(1000);
  s.jitter = jitter;
  return s;
}

TEST(backoff, grows_by_the_multiplier_up_to_the_cap) {
  const backoff b(settings(0));
  EXPECT_EQ(b.delay(1, 0.3), millis(100));
  EXPECT_EQ(b.delay(2, 0.3), millis(200));
  EXPECT_EQ(b.delay(3, 0.3), millis(400));
  EXPECT_EQ(b.delay(4, 0.3), millis(800));
  EXPECT_EQ(b.delay(5, 0.3), millis(1000));
  EXPECT_EQ(b.delay(500, 0.3), millis(1000));  // no overflow on huge attempts
}

TEST(backoff, jitter_spreads_both_ways_and_never_passes_the_cap) {
  const backoff b(settings(0.5));
  EXPECT_EQ(b.delay(1, 0.0), millis(50));    // 100 * (1 - 0.5)
  EXPECT_EQ(b.delay(1, 0.5), millis(100));   // centre
  EXPECT_EQ(b.delay(1, 0.75), millis(125));  // 100 * (1 + 0.25)
  EXPECT_EQ(b.delay(5, 0.0), millis(500));
  EXPECT_EQ(b.delay(5, 0.99), millis(1000));  // capped after jitter
}

TEST(backoff, multiplier_one_is_a_constant_interval) {
  auto s = settings(0);
  s.multiplier = 1;
  const backoff b(s);
  EXPECT_EQ(b.delay(1, 0), millis(100));
  EXPECT_EQ(b.delay(9, 0), millis(100));
}

}  // namespace
}  // namespace brokerside::pool
