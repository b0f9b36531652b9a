// Per-target settings of the pool layer: plain structs with documented
// defaults, validated once at startup. A zero duration or count turns the
// feature it governs off, where the comment says so.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "pool/broker_url.h"
#include "pool/time.h"

namespace brokerside::pool {

struct pool_settings {
  std::uint32_t min_idle = 1;            // opened at start, re-opened after loss; 0: open on demand
  std::uint32_t max_connections = 8;     // per target, leased ones included
  std::uint32_t max_pending = 1024;      // queued waiters; beyond: RESOURCE_EXHAUSTED
  millis acquire_timeout{5'000};         // wait for a connection (capped by the deadline)
  millis connect_timeout{5'000};         // TCP + TLS + handshake
  millis idle_timeout{300'000};          // close idle connections above min_idle; 0: never
  millis max_lifetime{1'800'000};        // recycle connections this old; 0: never
  double lifetime_jitter = 0.1;          // +-share of max_lifetime, per connection
  millis health_check_interval{30'000};  // ping idle connections this often, and close
                                         // one owing an answer (a ping, a reply past its
                                         // caller's deadline) silent this long; 0: off
  std::uint32_t max_in_flight = 1024;    // operations multiplexed on one connection

  // "" if valid, else "field: reason" (field relative to the pool block).
  std::string validate() const;
};

struct retry_settings {
  std::uint32_t max_retries = 3;             // 0: never retry
  millis initial_interval{50};               // first backoff
  double multiplier = 2.0;                   // backoff growth per retry
  millis max_interval{2'000};                // backoff cap
  double jitter = 0.2;                       // +-share of each interval
  double budget_ratio = 0.2;                 // retries at most this share of operations
  std::uint32_t budget_min_per_second = 10;  // retries always allowed at this rate
  millis budget_window{10'000};              // the window the share is measured over

  std::string validate() const;
};

struct breaker_settings {
  std::uint32_t failure_threshold = 5;  // consecutive connect failures to open; 0: off
  millis open_timeout{5'000};           // open this long before one half-open probe

  std::string validate() const;
};

struct lease_settings {
  millis default_ttl{30'000};  // when Acquire gives no TTL
  millis max_ttl{300'000};     // Acquire / Renew above it: INVALID_ARGUMENT

  std::string validate() const;
};

enum class failover_strategy { round_robin, shuffle };

// One configured broker as the pool sees it: a name, its URLs (several fail
// over) and its policies. What the connections themselves need (frame
// limits, TLS, the adapter's own options) is the adapter's
// (sidecar/target_settings.h).
struct target_config {
  std::string name;
  std::vector<broker_url> urls;  // at least one; all select the same adapter
  failover_strategy failover = failover_strategy::round_robin;
  pool_settings pool;
  retry_settings retry;
  breaker_settings breaker;
  lease_settings lease;
};

}  // namespace brokerside::pool
