#include "pool/latency_histogram.h"

#include <algorithm>

namespace brokerside::pool {

void latency_histogram::record(std::chrono::nanoseconds elapsed) noexcept {
  const auto ns = std::max<std::int64_t>(elapsed.count(), 0);
  // Bounds are inclusive upper bounds, as Prometheus's `le`.
  const auto bucket = static_cast<std::size_t>(
      std::lower_bound(bounds_ns.begin(), bounds_ns.end(), ns) - bounds_ns.begin());
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(ns), std::memory_order_relaxed);
}

latency_histogram::snapshot latency_histogram::read() const noexcept {
  snapshot s;
  for (std::size_t i = 0; i < buckets; ++i) {
    s.counts[i] = counts_[i].load(std::memory_order_relaxed);
    s.count += s.counts[i];
  }
  s.sum_seconds = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  return s;
}

double latency_histogram::snapshot::quantile(double q) const noexcept {
  if (count == 0) return 0;
  const double rank = std::clamp(q, 0.0, 1.0) * static_cast<double>(count);
  std::uint64_t below = 0;
  for (std::size_t i = 0; i < buckets; ++i) {
    const auto in = counts[i];
    if (in != 0 && static_cast<double>(below + in) >= rank) {
      if (i == bounds.size()) return bounds.back();
      const double lower = i == 0 ? 0 : bounds[i - 1];
      const double share = (rank - static_cast<double>(below)) / static_cast<double>(in);
      return lower + (bounds[i] - lower) * std::clamp(share, 0.0, 1.0);
    }
    below += in;
  }
  return bounds.back();
}

latency_histogram::snapshot latency_histogram::snapshot::since(
    const snapshot& earlier) const noexcept {
  snapshot d;
  for (std::size_t i = 0; i < buckets; ++i) {
    d.counts[i] = counts[i] >= earlier.counts[i] ? counts[i] - earlier.counts[i] : 0;
    d.count += d.counts[i];
  }
  d.sum_seconds = std::max(0.0, sum_seconds - earlier.sum_seconds);
  return d;
}

}  // namespace brokerside::pool
