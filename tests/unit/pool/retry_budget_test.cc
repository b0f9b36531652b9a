#include "pool/retry_budget.h"

#include <gtest/gtest.h>

namespace brokerside::pool {
namespace {

const time_point t0 = time_point{} + std::chrono::hours(1);

retry_settings settings(double ratio, std::uint32_t min_per_second) {
  retry_settings s;
  s.budget_ratio = ratio;
  s.budget_min_per_second = min_per_second;
  s.budget_window = millis(10'000);
  return s;
}

TEST(retry_budget, minimum_rate_allows_retries_without_traffic) {
  retry_budget b(settings(0.2, 1));  // 1/s over 10 s: 10 retries
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(b.try_retry(t0)) << i;
  EXPECT_FALSE(b.try_retry(t0));
  EXPECT_EQ(b.available(t0), 0u);
}

TEST(retry_budget, share_of_operations) {
  retry_budget b(settings(0.1, 0));
  for (int i = 0; i < 100; ++i) b.record_operation(t0);
  EXPECT_EQ(b.available(t0), 10u);
  int allowed = 0;
  while (b.try_retry(t0)) ++allowed;
  EXPECT_EQ(allowed, 10);
}

TEST(retry_budget, an_outage_cannot_multiply_traffic) {
  // 1,000 operations all failing: at most 20% + the minimum may retry.
  retry_budget b(settings(0.2, 1));
  int retries = 0;
  for (int i = 0; i < 1000; ++i) {
    b.record_operation(t0 + millis(i));
    if (b.try_retry(t0 + millis(i))) ++retries;
  }
  EXPECT_LE(retries, 200 + 10);
  EXPECT_GE(retries, 200);
}

TEST(retry_budget, the_window_slides) {
  retry_budget b(settings(0, 1));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(b.try_retry(t0));
  EXPECT_FALSE(b.try_retry(t0 + millis(9'000)));
  // Ten seconds later the retries of t0 have left the window.
  EXPECT_TRUE(b.try_retry(t0 + millis(10'000)));
  EXPECT_EQ(b.available(t0 + millis(10'000)), 9u);
}

TEST(retry_budget, zero_budget_allows_nothing) {
  retry_budget b(settings(0, 0));
  for (int i = 0; i < 100; ++i) b.record_operation(t0);
  EXPECT_FALSE(b.try_retry(t0));
}

}  // namespace
}  // namespace brokerside::pool
