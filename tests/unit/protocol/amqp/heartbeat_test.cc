#include "protocol/amqp/heartbeat.h"

#include <gtest/gtest.h>

namespace brokerside::protocol::amqp {
namespace {

using namespace std::chrono_literals;
using time_point = heartbeat_clock::clock::time_point;

const time_point t0{std::chrono::hours(1000)};

TEST(amqp_heartbeat, sends_after_half_an_interval_without_writing) {
  heartbeat_clock h(2s, t0);
  EXPECT_TRUE(h.enabled());
  EXPECT_EQ(h.next_wake(), t0 + 1s);
  auto a = h.resume(t0 + 1s);
  EXPECT_TRUE(a.send_heartbeat);
  EXPECT_FALSE(a.timed_out);
  EXPECT_EQ(a.next_wake, t0 + 2s);
  // Other writes postpone it.
  h.read(t0 + 1500ms);
  h.wrote(t0 + 1900ms);
  a = h.resume(t0 + 2s);
  EXPECT_FALSE(a.send_heartbeat);
  EXPECT_EQ(a.next_wake, t0 + 2900ms);
}

TEST(amqp_heartbeat, two_silent_intervals_from_the_broker_time_out) {
  heartbeat_clock h(2s, t0);
  h.read(t0 + 1s);
  for (auto t = t0 + 1s; t < t0 + 5s; t += 500ms) {
    EXPECT_FALSE(h.resume(t).timed_out) << (t - t0).count();
  }
  EXPECT_TRUE(h.resume(t0 + 5s).timed_out);
  // Anything read resets it.
  h.read(t0 + 5s);
  EXPECT_FALSE(h.resume(t0 + 8s).timed_out);
}

TEST(amqp_heartbeat, a_one_second_interval_keeps_its_milliseconds) {
  heartbeat_clock h(1s, t0);
  EXPECT_EQ(h.next_wake(), t0 + 500ms);
}

TEST(amqp_heartbeat, zero_is_off) { EXPECT_FALSE(heartbeat_clock().enabled()); }

}  // namespace
}  // namespace brokerside::protocol::amqp
