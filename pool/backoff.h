// Jittered exponential backoff (Envoy's JitteredExponentialBackOffStrategy,
// kombu's interval_start / interval_step / interval_max): the delay before
// each retry grows by `multiplier` up to `max_interval`, spread by +-jitter so
// that clients that failed together do not retry together.
#pragma once

#include <cstdint>

#include "pool/settings.h"

namespace brokerside::pool {

class backoff {
 public:
  explicit backoff(const retry_settings& settings) noexcept : settings_(settings) {}

  // The delay before retry number `retry` (1 for the first retry), given a
  // uniform random draw `u` in [0, 1) that picks the jitter. Never above
  // max_interval.
  millis delay(std::uint32_t retry, double u) const noexcept;

 private:
  retry_settings settings_;  // intervals, multiplier, jitter
};

}  // namespace brokerside::pool
