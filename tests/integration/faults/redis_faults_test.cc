// Network faults between the sidecar and Redis: the sidecar in process, its
// target pointing at a fault proxy (tests/support/fault_proxy.h) in front
// of a redis-server of the test's own. Under a steady load of Sends, each
// fault must leave every call bounded by its deadline, open the target's
// breaker and turn its health NOT_SERVING, and both must come back once
// the fault clears. Figures go to the test output.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "tests/integration/faults/fault_checks.h"
#include "tests/support/fault_proxy.h"
#include "tests/support/in_process_sidecar.h"
#include "tests/support/redis_server.h"

namespace brokerside::faults {
namespace {

using testing_support::fault_proxy;
using testing_support::in_process_sidecar;
using testing_support::redis_server;

std::string test_name() {
  return std::string("redis.") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
}

bool serving(const sample& s) { return s.serving; }

class redis_faults : public ::testing::Test {
 protected:
  // Short settings, so a fault plays out in seconds: three failed connects
  // (300 ms each at most) open the breaker for 500 ms; a connection that
  // owes an answer and says nothing for `health_check_interval` is dead.
  void start(ms health_check_interval = 500ms) {
    sidecar_ = std::make_unique<in_process_sidecar>(
        "  cache: {url: 'redis://127.0.0.1:" + std::to_string(proxy_.port()) +
        "', pool: {min_idle: 1, max_connections: 2, connect_timeout: 300ms,"
        " health_check_interval: " +
        std::to_string(health_check_interval.count()) +
        "ms}, retry: {max_retries: 2, initial_interval: 20ms, max_interval: 100ms},"
        " breaker: {failure_threshold: 3, open_timeout: 500ms},"
        " write_high_water: 64KiB, write_low_water: 16KiB}\n");
    seen_ = std::make_unique<observer>(sidecar_->channel(), "cache");
    ASSERT_TRUE(seen_->wait_for(serving, {}, 10s)) << "the target never served";
  }

  // GET (idempotent: retried) and INCR (not: ABORTED once written) in turn.
  static v1::SendRequest get_or_incr(int thread, int i) {
    return i % 2 == 0
               ? in_process_sidecar::command("cache", {"GET", "k"})
               : in_process_sidecar::command("cache", {"INCR", "n:" + std::to_string(thread)});
  }

  std::uint64_t disconnects() { return sidecar_->stats("cache").counters().disconnects(); }

  // The checks every outage shares, and its figures.
  void expect_outage(load& l, const outage& o) {
    const auto all = l.calls();
    expect_bounded(all);
    expect_fault_codes(all);
    expect_recovered(o, *seen_, test_name());
    expect_fail_fast(l.calls(o.fault_at, o.clear_at));
    expect_served_after(l, o);
    // The pool holds no operation past its caller: at most the one each
    // client has now and the one it just gave up on.
    EXPECT_LE(seen_->max_busy(), 2u * static_cast<unsigned>(l.threads()));
    figure(test_name(), "during the fault: " + describe(l.calls(o.fault_at, o.clear_at)));
    figure(test_name(), "overall: " + describe(all) + "; most operations in the pool at once " +
                            std::to_string(seen_->max_busy()) + " (" + std::to_string(l.threads()) +
                            " clients); disconnects " + std::to_string(disconnects()) +
                            "; proxy accepted " + std::to_string(proxy_.stats().accepted) +
                            " connections");
  }

  redis_server server_{{}};
  // Connections the sidecar made, as the proxy counts them.
  std::function<std::uint64_t()> accepted() {
    return [this] { return proxy_.stats().accepted; };
  }

  fault_proxy proxy_{"127.0.0.1", server_.port()};
  std::unique_ptr<in_process_sidecar> sidecar_;
  std::unique_ptr<observer> seen_;
};

TEST_F(redis_faults, blackhole_under_load_replaces_the_silent_connection_and_recovers) {
  start();
  load l(sidecar_->stub(), 4, 400ms, get_or_incr);
  std::this_thread::sleep_for(500ms);
  // Established connections with commands outstanding go silent: no error,
  // no close. Only their silence past the deadlines gives them away.
  const auto o = run_outage(
      *seen_, [&] { proxy_.set(fault_proxy::blackhole()); },
      [&] { proxy_.set(fault_proxy::pass_through()); }, accepted());
  stop_after_recovery(l, o);
  expect_outage(l, o);
  const auto stalled = sidecar_->stats("cache").counters().stalled();
  EXPECT_GE(stalled, 1u) << "the silent connection is counted where operators look";
  figure(test_name(), "connections closed as stalled " + std::to_string(stalled));
}

TEST_F(redis_faults, blackhole_on_an_idle_connection_turns_health_not_serving) {
  start();
  // No traffic: the health check finds the silence.
  const auto o = run_outage(
      *seen_, [&] { proxy_.set(fault_proxy::blackhole()); },
      [&] { proxy_.set(fault_proxy::pass_through()); }, accepted());
  expect_recovered(o, *seen_, test_name());
  EXPECT_EQ(sidecar_->ok(sidecar_->command("cache", {"PING"})).text(), "PONG");
}

TEST_F(redis_faults, reset_in_the_middle_of_a_reply_opens_the_breaker_and_recovers) {
  start();
  const std::string big(64 * 1024, 'b');
  sidecar_->ok(sidecar_->command("cache", {"SET", "big", big}));
  // Half the clients read a 64 KiB value, half increment.
  load l(sidecar_->stub(), 4, 400ms, [](int thread, int i) {
    return thread < 2 ? in_process_sidecar::command("cache", {"GET", "big"})
                      : get_or_incr(thread, i);
  });
  std::this_thread::sleep_for(500ms);
  // 20 bytes into the next reply, and into every handshake after: RST.
  const auto o = run_outage(
      *seen_, [&] { proxy_.set(fault_proxy::reset_after(20)); },
      [&] { proxy_.set(fault_proxy::pass_through()); }, accepted());
  stop_after_recovery(l, o);
  expect_outage(l, o);
  EXPECT_GE(proxy_.stats().resets, 1u);
  // What was cut off is whole when read again.
  EXPECT_EQ(sidecar_->ok(sidecar_->command("cache", {"GET", "big"})).bytes(), big);
  figure(test_name(), "connections reset by the proxy " + std::to_string(proxy_.stats().resets));
}

TEST_F(redis_faults, a_broker_that_stops_reading_backs_writes_up_and_is_given_up) {
  start();
  const std::string value(128 * 1024, 'v');
  // Half the clients write 128 KiB values, half read.
  load l(sidecar_->stub(), 4, 1s, [&value](int thread, int i) {
    return thread < 2
               ? in_process_sidecar::command("cache", {"SET", "v:" + std::to_string(thread), value})
               : get_or_incr(thread, i);
  });
  std::this_thread::sleep_for(500ms);
  const auto pauses_before = sidecar_->stats("cache").counters().write_pauses();
  const auto o = run_outage(
      *seen_, [&] { proxy_.set(fault_proxy::half_open(false)); },
      [&] { proxy_.set(fault_proxy::pass_through()); }, accepted());
  stop_after_recovery(l, o);
  expect_outage(l, o);
  figure(test_name(),
         "write pauses during the fault " +
             std::to_string(sidecar_->stats("cache").counters().write_pauses() - pauses_before));
}

TEST_F(redis_faults, latency_slows_calls_without_killing_the_connection_until_handshakes_time_out) {
  // 3 s of silence makes a connection dead; the replies below come at
  // most 1.2 s after their commands.
  start(3s);
  // Far below the deadline: every call succeeds, only slower.
  load l(sidecar_->stub(), 4, 2s, get_or_incr);
  proxy_.set(fault_proxy::latency(50ms, 50ms));
  const auto slow_at = steady::now();
  std::this_thread::sleep_for(1500ms);
  const auto slow = l.calls(slow_at + 200ms, steady::now());
  EXPECT_FALSE(slow.empty());
  for (const auto& c : slow) EXPECT_EQ(c.code, grpc::StatusCode::OK) << c.message;
  figure(test_name(), "50 ms each way: " + describe(slow));

  // Above it: calls time out, but replies keep coming, so the connection
  // is alive: kept, and the target stays SERVING with its breaker closed.
  const auto disconnects_before = disconnects();
  l.set_deadline(500ms);
  proxy_.set(fault_proxy::latency(0ms, 600ms));
  const auto late_at = steady::now();
  std::this_thread::sleep_for(2s);
  const auto late = l.calls(late_at + 100ms, steady::now());
  for (const auto& s : seen_->samples(late_at)) {
    EXPECT_TRUE(s.serving);
    EXPECT_EQ(s.breaker, v1::BREAKER_STATE_CLOSED);
  }
  EXPECT_EQ(disconnects(), disconnects_before);
  EXPECT_FALSE(late.empty());
  for (const auto& c : late) EXPECT_EQ(c.code, grpc::StatusCode::DEADLINE_EXCEEDED) << c.message;
  figure(test_name(), "600 ms back: " + describe(late));

  // The connection drops: a handshake that slow misses connect_timeout.
  const auto o = run_outage(
      *seen_, [&] { proxy_.reset_all(); }, [&] { proxy_.set(fault_proxy::pass_through()); },
      accepted());
  stop_after_recovery(l, o);
  expect_outage(l, o);
}

TEST_F(redis_faults, a_bandwidth_cap_serves_what_fits_and_a_crawl_fails_handshakes) {
  start();
  const std::string ten_k(10'000, 't');
  sidecar_->ok(sidecar_->command("cache", {"SET", "ten_k", ten_k}));
  load l(sidecar_->stub(), 4, 2s, [](int thread, int i) {
    return thread == 0 ? in_process_sidecar::command("cache", {"GET", "ten_k"})
                       : get_or_incr(thread, i);
  });
  // 100 kB/s each way: 10 kB replies take 0.1 s, every call fits.
  proxy_.set(fault_proxy::bandwidth(100'000, 100'000));
  const auto capped_at = steady::now();
  std::this_thread::sleep_for(1500ms);
  const auto capped = l.calls(capped_at + 200ms, steady::now());
  EXPECT_FALSE(capped.empty());
  for (const auto& c : capped) EXPECT_EQ(c.code, grpc::StatusCode::OK) << c.message;
  figure(test_name(), "100 kB/s: " + describe(capped));

  // 50 B/s and the connection drops: a handshake cannot finish in time.
  l.set_deadline(500ms);
  const auto o = run_outage(
      *seen_,
      [&] {
        proxy_.set(fault_proxy::bandwidth(50, 50));
        proxy_.reset_all();
      },
      [&] { proxy_.set(fault_proxy::pass_through()); }, accepted());
  stop_after_recovery(l, o);
  expect_outage(l, o);
}

}  // namespace
}  // namespace brokerside::faults

namespace brokerside::faults {
namespace {

// Waits (bounded) until `done` holds; whether it did.
bool eventually(const std::function<bool()>& done, steady::duration limit = 10s) {
  const auto until = steady::now() + limit;
  while (steady::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return done();
}

TEST_F(redis_faults, a_blackholed_subscriber_connection_is_found_by_its_health_check_and_replaced) {
  start();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 60s);
  auto stream = sidecar_->stub().Recv(&context);
  v1::RecvRequest subscribe;
  subscribe.mutable_subscribe()->set_target("cache");
  subscribe.mutable_subscribe()->add_sources("news");
  ASSERT_TRUE(stream->Write(subscribe));
  v1::RecvResponse response;
  ASSERT_TRUE(stream->Read(&response) && response.has_subscribed());
  auto subscriber_connections = [&] { return sidecar_->stats("cache").subscriber_connections(); };
  EXPECT_EQ(subscriber_connections(), 1u);
  // The subscriber connection goes silent: no error, no close. Only its
  // unanswered PING gives it away, within two health_check_intervals.
  const auto accepted_before = proxy_.stats().accepted;
  const auto fault_at = steady::now();
  proxy_.set(fault_proxy::blackhole());
  ASSERT_TRUE(eventually([&] { return subscriber_connections() == 0; }))
      << "the blackholed subscriber connection was never given up";
  figure(test_name(), "subscriber connection given up " +
                          std::to_string(millis(steady::now() - fault_at)) +
                          " ms after the blackhole (health_check_interval 500 ms)");
  proxy_.set(fault_proxy::pass_through());
  ASSERT_TRUE(eventually([&] { return subscriber_connections() == 1; }))
      << "no new subscriber connection";
  EXPECT_GT(proxy_.stats().accepted, accepted_before);
  // The stream, never ended, gets what is published on the new one.
  ASSERT_TRUE(eventually([&] {
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + 1s);
    v1::SendRequest publish;
    publish.set_target("cache");
    publish.mutable_publish()->set_destination("news");
    publish.mutable_publish()->mutable_message()->set_body("after");
    v1::SendResponse out;
    return sidecar_->stub().Send(&c, publish, &out).ok() && out.published().receivers() == 1;
  })) << "no publish reached the restored subscription";
  ASSERT_TRUE(stream->Read(&response));
  ASSERT_TRUE(response.has_delivery()) << response.DebugString();
  EXPECT_EQ(response.delivery().message().body(), "after");
  context.TryCancel();
}

}  // namespace
}  // namespace brokerside::faults
