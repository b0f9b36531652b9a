// The pool's notion of time. Sans-io algorithms take `now` as an argument
// instead of reading a clock; the pool's own timers (target_pool) run on
// pool::clock, a steady clock that tests move forward with advance() so
// that they advance time instead of sleeping.
#pragma once

#include <atomic>
#include <chrono>

namespace brokerside::pool {

// std::chrono::steady_clock plus an offset that only tests change (0 in
// production: one relaxed atomic load per now()). Asio timers on it
// (pool::timer) see an advance once their reactor recomputes its next
// wake-up: schedule a timer earlier than all (target_pool_test's advance()).
struct clock {
  using duration = std::chrono::steady_clock::duration;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<clock>;
  static constexpr bool is_steady = true;

  static time_point now() noexcept {
    return time_point(std::chrono::steady_clock::now().time_since_epoch() +
                      duration(offset().load(std::memory_order_relaxed)));
  }

  // Tests only: every pool clock of the process jumps `d` ahead.
  static void advance(duration d) noexcept {
    offset().fetch_add(d.count(), std::memory_order_relaxed);
  }

 private:
  static std::atomic<rep>& offset() noexcept {
    static std::atomic<rep> skew{0};
    return skew;
  }
};

using time_point = clock::time_point;
using millis = std::chrono::milliseconds;

}  // namespace brokerside::pool
