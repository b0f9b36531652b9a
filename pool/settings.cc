#include "pool/settings.h"

namespace brokerside::pool {

std::string pool_settings::validate() const {
  if (max_connections == 0) return "max_connections: must be at least 1";
  if (min_idle > max_connections) return "min_idle: must not exceed max_connections";
  if (lifetime_jitter < 0 || lifetime_jitter >= 1) return "lifetime_jitter: must be in [0, 1)";
  if (connect_timeout.count() == 0) return "connect_timeout: must be positive";
  if (max_in_flight == 0) return "max_in_flight: must be at least 1";
  return {};
}

std::string retry_settings::validate() const {
  if (max_retries > 0 && initial_interval.count() == 0) {
    return "initial_interval: must be positive when retries are on";
  }
  if (multiplier < 1) return "multiplier: must be at least 1";
  if (max_interval < initial_interval) return "max_interval: must not be below initial_interval";
  if (jitter < 0 || jitter >= 1) return "jitter: must be in [0, 1)";
  if (budget_ratio < 0) return "budget_ratio: must not be negative";
  if (budget_window.count() == 0) return "budget_window: must be positive";
  return {};
}

std::string breaker_settings::validate() const {
  if (failure_threshold > 0 && open_timeout.count() == 0) {
    return "open_timeout: must be positive when the breaker is on";
  }
  return {};
}

std::string lease_settings::validate() const {
  if (default_ttl.count() == 0) return "default_ttl: must be positive";
  if (max_ttl < default_ttl) return "max_ttl: must not be below default_ttl";
  return {};
}

}  // namespace brokerside::pool
