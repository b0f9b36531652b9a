// A target's circuit breaker over connect attempts: it opens after
// `failure_threshold` consecutive failures, fails fast while open, lets one
// probe through once `open_timeout` has passed (half-open), and closes when
// a connect succeeds. Sans-io: time comes in as `now`.
#pragma once

#include <cstdint>

#include "pool/settings.h"
#include "pool/time.h"

namespace brokerside::pool {

enum class breaker_state { closed, open, half_open };

class circuit_breaker {
 public:
  explicit circuit_breaker(const breaker_settings& settings) noexcept : settings_(settings) {}

  // May a connect attempt start now? While open this turns half-open once
  // the timeout has passed and admits exactly one probe; true means the
  // caller must report the attempt's outcome.
  bool allow_connect(time_point now) noexcept;

  void on_success() noexcept;
  void on_failure(time_point now) noexcept;

  breaker_state state() const noexcept { return state_; }
  // Whether calls should fail fast now (open, or half-open with the probe out).
  bool failing_fast() const noexcept { return state_ != breaker_state::closed; }
  std::uint32_t consecutive_failures() const noexcept { return failures_; }
  // When an open breaker will admit its probe.
  time_point retry_at() const noexcept { return opened_at_ + settings_.open_timeout; }

 private:
  void open(time_point now) noexcept;

  breaker_settings settings_;                    // threshold 0: never opens
  breaker_state state_ = breaker_state::closed;  // current state
  std::uint32_t failures_ = 0;                   // consecutive connect failures
  time_point opened_at_{};                       // when it last opened
  bool probe_out_ = false;                       // half-open probe in flight
};

}  // namespace brokerside::pool
