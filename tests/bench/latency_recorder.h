// Latencies of one load run, kept EXACTLY: every measured call's latency is
// stored (nanoseconds), and percentiles come from the sorted samples, not
// from buckets. One recorder per in-flight slot (no locking); merged at the
// end.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

namespace brokerside::bench {

using bench_clock = std::chrono::steady_clock;

class latency_recorder {
 public:
  void record(bench_clock::duration latency) {
    samples_.push_back(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(latency).count()));
  }
  void merge(latency_recorder& other);
  std::size_t count() const { return samples_.size(); }

  // {"min","mean","p50","p90","p99","p999","max"} in microseconds and the
  // percentile curve [[percentile, microseconds], ...] for plots. Sorts.
  nlohmann::json summary();

 private:
  std::vector<std::uint64_t> samples_;  // nanoseconds, unsorted until summary()
};

}  // namespace brokerside::bench
