#include "tests/bench/latency_recorder.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace brokerside::bench {
namespace {

// The nearest-rank percentile of sorted samples, in microseconds.
double percentile_us(const std::vector<std::uint64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1000.0;
}

}  // namespace

void latency_recorder::merge(latency_recorder& other) {
  samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
  other.samples_.clear();
  other.samples_.shrink_to_fit();
}

nlohmann::json latency_recorder::summary() {
  std::sort(samples_.begin(), samples_.end());
  nlohmann::json out;
  const double sum = std::accumulate(samples_.begin(), samples_.end(), 0.0,
                                     [](double s, std::uint64_t v) { return s + double(v); });
  out["samples"] = samples_.size();
  out["method"] = "exact (every sample kept and sorted; nearest rank)";
  out["min"] = percentile_us(samples_, 0);
  out["mean"] = samples_.empty() ? 0.0 : sum / double(samples_.size()) / 1000.0;
  out["p50"] = percentile_us(samples_, 50);
  out["p90"] = percentile_us(samples_, 90);
  out["p99"] = percentile_us(samples_, 99);
  out["p999"] = percentile_us(samples_, 99.9);
  out["max"] = samples_.empty() ? 0.0 : double(samples_.back()) / 1000.0;
  // 1..99 by 1, then the tail in the "nines" steps HdrHistogram plots use.
  auto curve = nlohmann::json::array();
  for (int p = 1; p < 100; ++p) curve.push_back({p, percentile_us(samples_, p)});
  for (double p : {99.5, 99.9, 99.95, 99.99, 99.999})
    curve.push_back({p, percentile_us(samples_, p)});
  out["curve"] = curve;
  return out;
}

}  // namespace brokerside::bench
