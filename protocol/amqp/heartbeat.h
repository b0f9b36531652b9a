// AMQP heartbeats as a sans-io clock (spec 4.2.7): a heartbeat frame goes
// out when nothing was written for half the interval, and a broker heard
// nothing from for two intervals is dead. The connection arms one timer for
// next_wake() and calls resume() when it fires; tests pass the time in.
#pragma once

#include <algorithm>
#include <chrono>

namespace brokerside::protocol::amqp {

class heartbeat_clock {
 public:
  using clock = std::chrono::steady_clock;

  struct action {
    bool send_heartbeat = false;  // write a heartbeat frame now
    bool timed_out = false;       // nothing heard for two intervals: abort
    clock::time_point next_wake;  // when to call resume() again
  };

  heartbeat_clock() = default;
  // Starts at `now` (tune-ok): the broker's interval counts from here too.
  heartbeat_clock(std::chrono::seconds interval, clock::time_point now) noexcept
      : interval_(interval), last_read_(now), last_write_(now) {}

  bool enabled() const noexcept { return interval_.count() > 0; }
  void read(clock::time_point now) noexcept { last_read_ = now; }
  void wrote(clock::time_point now) noexcept { last_write_ = now; }

  clock::time_point next_wake() const noexcept {
    return std::min(last_write_ + interval_ / 2, last_read_ + interval_ * 2);
  }

  action resume(clock::time_point now) noexcept {
    action a;
    if (now >= last_read_ + interval_ * 2) {
      a.timed_out = true;
      return a;
    }
    if (now >= last_write_ + interval_ / 2) {
      a.send_heartbeat = true;
      // Counted as written now, so the next one is due half an interval on
      // even if the socket is slow to take it.
      last_write_ = now;
    }
    a.next_wake = next_wake();
    return a;
  }

 private:
  std::chrono::milliseconds interval_{0};
  clock::time_point last_read_;
  clock::time_point last_write_;
};

}  // namespace brokerside::protocol::amqp
