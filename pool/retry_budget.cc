#include "pool/retry_budget.h"

#include <algorithm>

namespace brokerside::pool {

retry_budget::retry_budget(const retry_settings& settings) noexcept
    : settings_(settings),
      slot_ms_(std::max<std::int64_t>(1, settings.budget_window.count() / buckets)) {}

retry_budget::bucket& retry_budget::current(time_point now) noexcept {
  const auto slot = std::chrono::duration_cast<millis>(now.time_since_epoch()).count() / slot_ms_;
  auto& b = ring_[static_cast<std::size_t>(slot % buckets)];
  if (b.slot != slot) b = {slot, 0, 0};
  return b;
}

void retry_budget::record_operation(time_point now) noexcept { ++current(now).operations; }

std::uint64_t retry_budget::available(time_point now) noexcept {
  const auto newest = current(now).slot;
  std::uint64_t operations = 0;
  std::uint64_t retries = 0;
  for (const auto& b : ring_) {
    if (b.slot < 0 || newest - b.slot >= static_cast<std::int64_t>(buckets)) continue;
    operations += b.operations;
    retries += b.retries;
  }
  const double window_seconds = static_cast<double>(slot_ms_ * buckets) / 1000.0;
  const auto allowed =
      static_cast<std::uint64_t>(settings_.budget_ratio * static_cast<double>(operations) +
                                 settings_.budget_min_per_second * window_seconds);
  return allowed > retries ? allowed - retries : 0;
}

bool retry_budget::try_retry(time_point now) noexcept {
  if (available(now) == 0) return false;
  ++current(now).retries;
  return true;
}

}  // namespace brokerside::pool
