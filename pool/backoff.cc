#include "pool/backoff.h"

#include <algorithm>
#include <cmath>

namespace brokerside::pool {

millis backoff::delay(std::uint32_t retry, double u) const noexcept {
  const double cap = static_cast<double>(settings_.max_interval.count());
  const double exponent = retry == 0 ? 0 : static_cast<double>(retry - 1);
  const double base = std::min(cap, static_cast<double>(settings_.initial_interval.count()) *
                                        std::pow(settings_.multiplier, std::min(exponent, 64.0)));
  const double spread = 1.0 + settings_.jitter * (2.0 * std::clamp(u, 0.0, 1.0) - 1.0);
  return millis(static_cast<std::int64_t>(std::clamp(base * spread, 0.0, cap)));
}

}  // namespace brokerside::pool
