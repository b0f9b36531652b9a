// Caps retries as a share of traffic so that an outage does not become a
// retry storm (Finagle's RetryBudget): over the last `budget_window`, retries
// may be at most budget_ratio x operations, plus budget_min_per_second x the
// window's seconds so that light traffic can still retry. Sans-io.
#pragma once

#include <array>
#include <cstdint>

#include "pool/settings.h"
#include "pool/time.h"

namespace brokerside::pool {

class retry_budget {
 public:
  explicit retry_budget(const retry_settings& settings) noexcept;

  // Counts one operation (first attempts only; retries are not operations).
  void record_operation(time_point now) noexcept;

  // Whether a retry may be made now; if so it is counted against the budget.
  bool try_retry(time_point now) noexcept;

  // Retries the budget would still allow now.
  std::uint64_t available(time_point now) noexcept;

 private:
  static constexpr std::size_t buckets = 10;  // the window in tenths

  struct bucket {
    std::int64_t slot = -1;  // which window tenth it counts, -1: unused
    std::uint64_t operations = 0;
    std::uint64_t retries = 0;
  };

  bucket& current(time_point now) noexcept;

  retry_settings settings_;           // ratio, minimum rate, window
  std::int64_t slot_ms_;              // width of one bucket
  std::array<bucket, buckets> ring_;  // the window, a tenth per bucket
};

}  // namespace brokerside::pool
