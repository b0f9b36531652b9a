#include "pool/circuit_breaker.h"

namespace brokerside::pool {

bool circuit_breaker::allow_connect(time_point now) noexcept {
  switch (state_) {
    case breaker_state::closed:
      return true;
    case breaker_state::open:
      if (now < retry_at()) return false;
      state_ = breaker_state::half_open;
      probe_out_ = true;
      return true;
    case breaker_state::half_open:
      if (probe_out_) return false;
      probe_out_ = true;
      return true;
  }
  return false;
}

void circuit_breaker::on_success() noexcept {
  state_ = breaker_state::closed;
  failures_ = 0;
  probe_out_ = false;
}

void circuit_breaker::on_failure(time_point now) noexcept {
  ++failures_;
  probe_out_ = false;
  // Attempts that began before the breaker opened do not extend its timeout.
  if (settings_.failure_threshold == 0 || state_ == breaker_state::open) return;
  if (state_ == breaker_state::half_open || failures_ >= settings_.failure_threshold) open(now);
}

void circuit_breaker::open(time_point now) noexcept {
  state_ = breaker_state::open;
  opened_at_ = now;
}

}  // namespace brokerside::pool
