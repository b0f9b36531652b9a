// Network faults between the sidecar and RabbitMQ (the shared broker from
// scripts/brokers.sh, which these tests never stop): the sidecar in process,
// its target pointing at a fault proxy in front of the broker, publishers
// with confirms as the load. Each fault must leave every call bounded by its
// deadline, open the breaker and turn health NOT_SERVING, and both must come
// back once it clears; every publish that returned OK is in the queue.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "tests/integration/faults/fault_checks.h"
#include "tests/support/brokers_env.h"
#include "tests/support/fault_proxy.h"
#include "tests/support/in_process_sidecar.h"

namespace brokerside::faults {
namespace {

using testing_support::fault_proxy;
using testing_support::in_process_sidecar;

std::string test_name() {
  return std::string("amqp.") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
}

bool serving(const sample& s) { return s.serving; }

std::uint16_t broker_port() {
  return static_cast<std::uint16_t>(
      std::stoi(testing_support::brokers_env().at("BROKERSIDE_AMQP_PORT")));
}

class amqp_faults : public ::testing::Test {
 protected:
  // Heartbeats every second (a silent broker is dead after two); three
  // failed connects (1 s each at most) open the breaker for 500 ms.
  void SetUp() override {
    sidecar_ = std::make_unique<in_process_sidecar>(
        "  events: {url: 'amqp://guest:guest@127.0.0.1:" + std::to_string(proxy_.port()) +
        "/%2f?heartbeat=1&connection_name=faults', pool: {min_idle: 1, max_connections: 2,"
        " connect_timeout: 1s, health_check_interval: 1s}, retry: {max_retries: 2,"
        " initial_interval: 20ms, max_interval: 100ms},"
        " breaker: {failure_threshold: 3, open_timeout: 500ms}}\n");
    seen_ = std::make_unique<observer>(sidecar_->channel(), "events");
    ASSERT_TRUE(seen_->wait_for(serving, {}, 10s)) << "the target never served";
    queue_ = "faults." +
             std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "." +
             std::to_string(::getpid());
    sidecar_->ok(in_process_sidecar::command("events", {"queue.delete", queue_}));
    sidecar_->ok(in_process_sidecar::command("events", {"queue.declare", queue_}));
  }

  v1::SendRequest publish(int thread, int i) const {
    v1::SendRequest r;
    r.set_target("events");
    r.mutable_publish()->set_routing_key(queue_);
    r.mutable_publish()->mutable_message()->set_body(std::to_string(thread) + ":" +
                                                     std::to_string(i));
    return r;
  }

  // Publishes from four clients through one outage.
  void outage_under_publishing(const std::function<void()>& inject) {
    load l(sidecar_->stub(), 4, 2s, [this](int t, int i) { return publish(t, i); });
    std::this_thread::sleep_for(500ms);
    const auto o = run_outage(
        *seen_, inject, [&] { proxy_.set(fault_proxy::pass_through()); }, accepted());
    stop_after_recovery(l, o);

    const auto all = l.calls();
    expect_bounded(all);
    expect_fault_codes(all);
    expect_recovered(o, *seen_, test_name());
    expect_fail_fast(l.calls(o.fault_at, o.clear_at));
    expect_served_after(l, o);
    EXPECT_LE(seen_->max_busy(), 2u * static_cast<unsigned>(l.threads()));

    // Every OK publish is in the queue; beyond those, at most the ones
    // whose outcome was unknown (UNAVAILABLE ones never went out).
    std::size_t ok = 0, unknown = 0;
    for (const auto& c : all) {
      ok += c.code == grpc::StatusCode::OK;
      unknown +=
          c.code == grpc::StatusCode::ABORTED || c.code == grpc::StatusCode::DEADLINE_EXCEEDED;
    }
    // Publishes the broker read from a connection the sidecar had given up
    // on may still be routed: let them land first.
    std::this_thread::sleep_for(500ms);
    const auto deleted =
        sidecar_->ok(in_process_sidecar::command("events", {"queue.delete", queue_}));
    ASSERT_EQ(deleted.map().entries_size(), 1) << deleted.DebugString();
    const auto count = static_cast<std::size_t>(deleted.map().entries(0).value().integer());
    EXPECT_GE(count, ok);
    EXPECT_LE(count, ok + unknown);

    figure(test_name(), "during the fault: " + describe(l.calls(o.fault_at, o.clear_at)));
    figure(test_name(), "overall: " + describe(all) + "; in the queue " + std::to_string(count) +
                            " (OK " + std::to_string(ok) + ", outcome unknown " +
                            std::to_string(unknown) + "); most operations in the pool at once " +
                            std::to_string(seen_->max_busy()) + "; disconnects " +
                            std::to_string(sidecar_->stats("events").counters().disconnects()) +
                            "; proxy accepted " + std::to_string(proxy_.stats().accepted) +
                            ", reset " + std::to_string(proxy_.stats().resets));
  }

  // Connections the sidecar made, as the proxy counts them.
  std::function<std::uint64_t()> accepted() {
    return [this] { return proxy_.stats().accepted; };
  }

  fault_proxy proxy_{"127.0.0.1", broker_port()};
  std::unique_ptr<in_process_sidecar> sidecar_;
  std::unique_ptr<observer> seen_;
  std::string queue_;
};

TEST_F(amqp_faults, blackhole_under_publishing_opens_the_breaker_and_recovers) {
  outage_under_publishing([&] { proxy_.set(fault_proxy::blackhole()); });
}

TEST_F(amqp_faults, reset_in_the_middle_of_a_frame_opens_the_breaker_and_recovers) {
  // 100 bytes into what the broker sends next (confirms are 21-byte
  // frames; connection.start is several hundred bytes), then RST.
  outage_under_publishing([&] { proxy_.set(fault_proxy::reset_after(100)); });
  EXPECT_GE(proxy_.stats().resets, 1u);
}

// A Recv stream that ends well (the client half-closed) ends once the broker
// has confirmed its channel's close, so what the client did not ack is back
// in the queue when it sees OK. With 300 ms of latency each way between the
// sidecar and RabbitMQ, the queue is read through a second target that goes
// straight to the broker: a stream that ended before the close-ok would
// leave the 5 deliveries still unacked there.
TEST(amqp_faults_stream_end, a_clean_end_waits_for_the_close_ok_and_what_was_unacked_is_back) {
  fault_proxy proxy{"127.0.0.1", broker_port()};
  const auto url = [](std::uint16_t port) {
    return "'amqp://guest:guest@127.0.0.1:" + std::to_string(port) + "/%2f'";
  };
  in_process_sidecar sidecar("  events: {url: " + url(proxy.port()) +
                             "}\n  direct: {url: " + url(broker_port()) + "}\n");
  const auto queue = "faults.stream_end." + std::to_string(::getpid());
  sidecar.ok(in_process_sidecar::command("direct", {"queue.delete", queue}));
  sidecar.ok(in_process_sidecar::command("direct", {"queue.declare", queue}));
  for (int i = 0; i < 5; ++i) {
    v1::SendRequest r;
    r.set_target("direct");
    r.mutable_publish()->set_routing_key(queue);
    r.mutable_publish()->mutable_message()->set_body(std::to_string(i));
    v1::SendResponse response;
    ASSERT_TRUE(sidecar.send(r, response).ok());
  }
  const auto ready = [&] {
    auto r = in_process_sidecar::command("direct", {"queue.declare", queue});
    (*r.mutable_command()->mutable_options())["passive"].set_boolean(true);
    const auto reply = sidecar.ok(r);
    for (const auto& e : reply.map().entries()) {
      if (e.key().text() == "message_count") return e.value().integer();
    }
    return std::int64_t{-1};
  };

  auto context = in_process_sidecar::context(30s);
  auto stream = sidecar.stub().Recv(context.get());
  v1::RecvRequest subscribe;
  subscribe.mutable_subscribe()->set_target("events");
  subscribe.mutable_subscribe()->add_sources(queue);
  subscribe.mutable_subscribe()->set_credit(10);
  ASSERT_TRUE(stream->Write(subscribe));
  int delivered = 0;
  v1::RecvResponse response;
  while (delivered < 5 && stream->Read(&response)) delivered += response.has_delivery() ? 1 : 0;
  ASSERT_EQ(delivered, 5);
  EXPECT_EQ(ready(), 0);  // all 5 handed out, none acked

  proxy.set(fault_proxy::latency(300ms, 300ms));
  const auto closing = std::chrono::steady_clock::now();
  stream->WritesDone();
  while (stream->Read(&response)) {
  }
  const auto status = stream->Finish();
  const auto took = std::chrono::steady_clock::now() - closing;
  ASSERT_TRUE(status.ok()) << status.error_message();
  const auto back = ready();
  EXPECT_EQ(back, 5);
  figure(test_name(),
         "the stream ended " +
             std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()) +
             " ms after the client half-closed (300 ms each way to the broker); "
             "ready in the queue then: " +
             std::to_string(back) + " of 5");
  proxy.set(fault_proxy::pass_through());
  sidecar.ok(in_process_sidecar::command("direct", {"queue.delete", queue}));
}

}  // namespace
}  // namespace brokerside::faults
