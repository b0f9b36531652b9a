// A latency histogram with fixed buckets from 25 µs to 10 s, for broker
// operations: recorded from any thread with one relaxed atomic add per
// bucket and one for the sum (no lock, no allocation), read as a snapshot
// that Stats and /metrics render and that estimates quantiles the way
// Prometheus's histogram_quantile does.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace brokerside::pool {

class latency_histogram {
 public:
  // Upper bounds of the buckets, in seconds; one more bucket (+Inf) takes the
  // rest. 25 µs is below a loopback round trip, 10 s above any sane deadline.
  static constexpr std::array<double, 18> bounds = {
      0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
      0.025,    0.05,    0.1,    0.25,    0.5,    1.0,   2.5,    5.0,   10.0};
  static constexpr std::size_t buckets = bounds.size() + 1;
  // The same bounds in nanoseconds, which record() compares with.
  static constexpr std::array<std::int64_t, 18> bounds_ns = {
      25'000,      50'000,      100'000,       250'000,       500'000,       1'000'000,
      2'500'000,   5'000'000,   10'000'000,    25'000'000,    50'000'000,    100'000'000,
      250'000'000, 500'000'000, 1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000};

  struct snapshot {
    std::array<std::uint64_t, buckets> counts{};  // per bucket, not cumulative
    std::uint64_t count = 0;                      // all observations
    double sum_seconds = 0;

    // The q-quantile (0 < q < 1) in seconds, interpolated linearly inside
    // its bucket; 0 without observations; the largest bound when it falls
    // in the +Inf bucket.
    double quantile(double q) const noexcept;
    // What was observed after `earlier` (a snapshot of the same histogram).
    snapshot since(const snapshot& earlier) const noexcept;
  };

  void record(std::chrono::nanoseconds elapsed) noexcept;
  snapshot read() const noexcept;

 private:
  std::array<std::atomic<std::uint64_t>, buckets> counts_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

}  // namespace brokerside::pool
