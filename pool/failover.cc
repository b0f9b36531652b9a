#include "pool/failover.h"

#include <algorithm>
#include <numeric>

namespace brokerside::pool {

failover::failover(std::size_t urls, failover_strategy strategy, const std::vector<double>& draws)
    : order_(std::max<std::size_t>(urls, 1)) {
  std::iota(order_.begin(), order_.end(), 0);
  if (strategy != failover_strategy::shuffle) return;
  // Fisher-Yates with the given draws.
  for (std::size_t i = order_.size(); i > 1; --i) {
    const double u = i - 1 < draws.size() ? std::clamp(draws[i - 1], 0.0, 0.999999) : 0.0;
    std::swap(order_[i - 1], order_[static_cast<std::size_t>(u * static_cast<double>(i))]);
  }
}

void failover::failed(std::size_t index) {
  const auto it = std::find(order_.begin(), order_.end(), index);
  if (it == order_.end()) return;
  order_.erase(it);
  order_.push_back(index);
}

}  // namespace brokerside::pool
