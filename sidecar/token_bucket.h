// A token bucket for rate quotas: `rate` tokens a second up to `capacity`;
// an amount is taken while the bucket is not empty, and may leave it in
// debt (a message larger than the capacity still passes, and the time the
// debt takes to refill holds the average to the rate). Sans-io: time is
// passed in. Not thread-safe.
#pragma once

#include <algorithm>
#include <chrono>

namespace brokerside::sidecar {

class token_bucket {
 public:
  using clock = std::chrono::steady_clock;

  token_bucket() = default;
  // Starts full at `now`.
  token_bucket(double rate, double capacity, clock::time_point now)
      : rate_(rate), capacity_(std::max(capacity, 1.0)), tokens_(capacity_), updated_(now) {}

  // Takes `amount` at `now` if the bucket holds any token (at least one
  // when `whole`, for counting operations); whether it did.
  bool take(double amount, clock::time_point now, bool whole) noexcept {
    if (now > updated_) {
      const std::chrono::duration<double> elapsed = now - updated_;
      tokens_ = std::min(capacity_, tokens_ + elapsed.count() * rate_);
      updated_ = now;
    }
    if (whole ? tokens_ < 1.0 : tokens_ <= 0.0) return false;
    tokens_ -= amount;
    return true;
  }

  double tokens() const noexcept { return tokens_; }

 private:
  double rate_ = 0;      // tokens a second
  double capacity_ = 1;  // the most it holds
  double tokens_ = 1;    // now (negative: in debt)
  clock::time_point updated_{};
};

}  // namespace brokerside::sidecar
