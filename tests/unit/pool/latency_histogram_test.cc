#include "pool/latency_histogram.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace brokerside::pool {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

TEST(latency_histogram, each_observation_lands_in_the_first_bucket_whose_bound_holds_it) {
  latency_histogram h;
  h.record(microseconds(10));          // ≤ 25 µs
  h.record(microseconds(25));          // ≤ 25 µs: bounds are inclusive, as Prometheus's le
  h.record(microseconds(26));          // ≤ 50 µs
  h.record(milliseconds(3));           // ≤ 5 ms
  h.record(std::chrono::seconds(11));  // +Inf
  h.record(microseconds(-5));          // a clock that stepped back counts as 0
  const auto s = h.read();
  EXPECT_EQ(s.count, 6u);
  EXPECT_EQ(s.counts[0], 3u);
  EXPECT_EQ(s.counts[1], 1u);
  EXPECT_EQ(s.counts[7], 1u);
  EXPECT_EQ(s.counts[latency_histogram::buckets - 1], 1u);
  EXPECT_NEAR(s.sum_seconds, 0.000010 + 0.000025 + 0.000026 + 0.003 + 11.0, 1e-9);
}

TEST(latency_histogram, quantiles_interpolate_inside_their_bucket_as_histogram_quantile_does) {
  latency_histogram h;
  EXPECT_EQ(h.read().quantile(0.5), 0.0);
  // 100 observations between 1 and 2.5 ms (bucket le=0.0025), 100 in le=0.005.
  for (int i = 0; i < 100; ++i) h.record(microseconds(2000));
  for (int i = 0; i < 100; ++i) h.record(microseconds(4000));
  const auto s = h.read();
  EXPECT_DOUBLE_EQ(s.quantile(0.5), 0.0025);                 // the top of the first half's bucket
  EXPECT_DOUBLE_EQ(s.quantile(0.25), 0.001 + 0.0015 * 0.5);  // half-way into it
  EXPECT_DOUBLE_EQ(s.quantile(0.99), 0.0025 + 0.0025 * 0.98);
  // Beyond the last bound: the last bound is all a histogram can say.
  latency_histogram slow;
  slow.record(std::chrono::seconds(30));
  EXPECT_DOUBLE_EQ(slow.read().quantile(0.5), 10.0);
}

TEST(latency_histogram, since_gives_what_an_interval_added) {
  latency_histogram h;
  h.record(microseconds(30));
  const auto before = h.read();
  h.record(milliseconds(200));
  h.record(milliseconds(200));
  const auto d = h.read().since(before);
  EXPECT_EQ(d.count, 2u);
  EXPECT_EQ(d.counts[1], 0u);
  EXPECT_EQ(d.counts[12], 2u);  // le=0.25
  EXPECT_NEAR(d.sum_seconds, 0.4, 1e-9);
}

TEST(latency_histogram, threads_record_at_once_without_losing_a_count) {
  latency_histogram h;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h, t] {
      for (int i = 0; i < 10'000; ++i) h.record(microseconds(100 * (t + 1)));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(h.read().count, 40'000u);
}

}  // namespace
}  // namespace brokerside::pool
