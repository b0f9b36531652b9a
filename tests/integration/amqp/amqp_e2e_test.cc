// The AMQP adapter end to end: gRPC client -> sidecar -> pool -> the real
// rabbitmq-server started by scripts/brokers.sh. Queue names are unique to
// the process, so tests running side by side do not meet.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "tests/support/brokers_env.h"
#include "tests/support/in_process_sidecar.h"

namespace brokerside {
namespace {

using grpc::StatusCode;
using testing_support::in_process_sidecar;
using stream = grpc::ClientReaderWriter<v1::RecvRequest, v1::RecvResponse>;

std::string status_text(const grpc::Status& status) {
  return std::to_string(status.error_code()) + ": " + status.error_message();
}

class amqp_e2e : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto url = testing_support::brokers_env().at("BROKERSIDE_AMQP_URL");
    sidecar_ = std::make_unique<in_process_sidecar>("  events: {url: '" + url + "'}\n");
  }

  static std::string name(const std::string& what) {
    return "e2e." + what + "." + std::to_string(::getpid());
  }

  v1::Value command(std::vector<std::string> args,
                    std::vector<std::pair<std::string, bool>> flags = {}) {
    auto request = in_process_sidecar::command("events", std::move(args));
    for (const auto& [flag, on] : flags) {
      (*request.mutable_command()->mutable_options())[flag].set_boolean(on);
    }
    return sidecar_->ok(request);
  }

  // A fresh queue bound nowhere but the default exchange.
  std::string queue(const std::string& what) {
    const auto q = name(what);
    command({"queue.delete", q});
    command({"queue.declare", q});
    return q;
  }

  static v1::SendRequest publish(const std::string& exchange, const std::string& routing_key,
                                 const std::string& body, bool mandatory = false) {
    v1::SendRequest r;
    r.set_target("events");
    r.mutable_publish()->set_destination(exchange);
    r.mutable_publish()->set_routing_key(routing_key);
    r.mutable_publish()->set_mandatory(mandatory);
    r.mutable_publish()->mutable_message()->set_body(body);
    return r;
  }

  std::unique_ptr<stream> subscribe(grpc::ClientContext& ctx, const std::string& queue,
                                    std::uint32_t credit = 0,
                                    v1::AckMode mode = v1::ACK_MODE_MANUAL) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    auto s = sidecar_->stub().Recv(&ctx);
    v1::RecvRequest request;
    request.mutable_subscribe()->set_target("events");
    request.mutable_subscribe()->add_sources(queue);
    request.mutable_subscribe()->set_credit(credit);
    request.mutable_subscribe()->set_ack_mode(mode);
    EXPECT_TRUE(s->Write(request));
    v1::RecvResponse first;
    EXPECT_TRUE(s->Read(&first));
    EXPECT_TRUE(first.has_subscribed()) << first.DebugString();
    return s;
  }

  static void ack(stream& s, std::uint64_t id) {
    v1::RecvRequest r;
    r.mutable_ack()->add_delivery_ids(id);
    ASSERT_TRUE(s.Write(r));
  }

  std::unique_ptr<in_process_sidecar> sidecar_;
};

TEST_F(amqp_e2e, ten_thousand_confirmed_publishes_are_all_consumed_once) {
  const auto q = queue("bulk");
  constexpr int count = 10'000;
  auto ctx = in_process_sidecar::context(std::chrono::seconds(120));
  auto publishing = sidecar_->stub().SendStream(ctx.get());
  std::thread writer([&] {
    for (int i = 0; i < count; ++i) {
      v1::SendStreamRequest request;
      request.set_id(static_cast<std::uint64_t>(i));
      *request.mutable_send() = publish("", q, std::to_string(i));
      if (!publishing->Write(request)) break;
    }
    publishing->WritesDone();
  });
  int confirmed = 0;
  v1::SendStreamResponse response;
  while (publishing->Read(&response)) {
    EXPECT_EQ(response.status().code(), 0) << response.status().message();
    confirmed += response.status().code() == 0 && response.result().has_published();
  }
  writer.join();
  ASSERT_TRUE(publishing->Finish().ok());
  ASSERT_EQ(confirmed, count);

  grpc::ClientContext recv_ctx;
  auto s = subscribe(recv_ctx, q, 500);
  std::set<std::string> bodies;
  int received = 0;
  v1::RecvResponse delivery;
  while (received < count && s->Read(&delivery)) {
    ASSERT_TRUE(delivery.has_delivery()) << delivery.DebugString();
    ++received;
    bodies.insert(delivery.delivery().message().body());
    EXPECT_EQ(delivery.delivery().source(), q);
    EXPECT_FALSE(delivery.delivery().redelivered());
    ack(*s, delivery.delivery().delivery_id());
  }
  EXPECT_EQ(received, count);
  EXPECT_EQ(bodies.size(), static_cast<std::size_t>(count)) << "duplicates";
  // Ending the request stream (not cancelling it: acks still in flight would
  // be lost, and their messages redelivered) lets every ack reach the broker.
  s->WritesDone();
  while (s->Read(&delivery)) {
  }
  EXPECT_TRUE(s->Finish().ok());
  // Nothing is left behind.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto declared = command({"queue.declare", q}, {{"passive", true}});
  EXPECT_EQ(declared.map().entries(1).value().integer(), 0) << declared.DebugString();
}

TEST_F(amqp_e2e, prefetch_is_the_credit_and_a_nack_with_requeue_comes_back_redelivered) {
  const auto q = queue("prefetch");
  for (int i = 0; i < 20; ++i)
    sidecar_->ok(publish("", q, std::string("m").append(std::to_string(i))));
  grpc::ClientContext ctx;
  auto s = subscribe(ctx, q, 5);
  std::vector<v1::Delivery> got;
  v1::RecvResponse r;
  for (int i = 0; i < 5 && s->Read(&r); ++i) got.push_back(r.delivery());
  ASSERT_EQ(got.size(), 5u);
  // Unacked, the broker sends no sixth: wait, then check nothing arrived.
  bool extra = false;
  std::thread reader([&] { extra = s->Read(&r); });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(sidecar_->stats("events").pool().in_flight(), 0u);
  // Nack the first with requeue: the credit frees one slot, and the same
  // message comes back with redelivered set (or the sixth comes first).
  v1::RecvRequest nack;
  nack.mutable_nack()->add_delivery_ids(got[0].delivery_id());
  nack.mutable_nack()->set_requeue(true);
  ASSERT_TRUE(s->Write(nack));
  reader.join();
  ASSERT_TRUE(extra);
  ASSERT_TRUE(r.has_delivery());
  if (r.delivery().message().body() == "m5") {
    // RabbitMQ gave the freed slot to the sixth before the requeued one was
    // back (about one run in ten): ack it to free the slot again.
    EXPECT_FALSE(r.delivery().redelivered());
    v1::RecvRequest ack;
    ack.mutable_ack()->add_delivery_ids(r.delivery().delivery_id());
    ASSERT_TRUE(s->Write(ack));
    ASSERT_TRUE(s->Read(&r));
  }
  EXPECT_EQ(r.delivery().message().body(), got[0].message().body());
  EXPECT_TRUE(r.delivery().redelivered());
  ctx.TryCancel();
}

TEST_F(amqp_e2e, broker_refusals_have_their_own_statuses_and_the_next_call_works) {
  v1::SendResponse response;
  auto status = sidecar_->send(publish(name("no-such-exchange"), "k", "x"), response);
  EXPECT_EQ(status.error_code(), StatusCode::NOT_FOUND) << status_text(status);
  EXPECT_NE(status.error_message().find("404 NOT_FOUND"), std::string::npos)
      << status.error_message();
  status = sidecar_->send(publish("amq.direct", name("unbound"), "x", true), response);
  EXPECT_EQ(status.error_code(), StatusCode::NOT_FOUND) << status_text(status);
  EXPECT_NE(status.error_message().find("312 NO_ROUTE"), std::string::npos)
      << status.error_message();
  // A passive declare of a missing queue; redeclaring with other flags.
  const auto q = queue("refusals");
  auto passive = in_process_sidecar::command("events", {"queue.declare", name("missing")});
  (*passive.mutable_command()->mutable_options())["passive"].set_boolean(true);
  status = sidecar_->send(passive, response);
  EXPECT_EQ(status.error_code(), StatusCode::NOT_FOUND) << status_text(status);
  auto durable = in_process_sidecar::command("events", {"queue.declare", q});
  (*durable.mutable_command()->mutable_options())["durable"].set_boolean(true);
  status = sidecar_->send(durable, response);
  EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION) << status_text(status);
  EXPECT_NE(status.error_message().find("406 PRECONDITION_FAILED"), std::string::npos);
  // The connection survived every one of these (channel errors only).
  EXPECT_TRUE(sidecar_->send(publish("", q, "fine"), response).ok());
  EXPECT_EQ(sidecar_->stats("events").counters().disconnects(), 0u);
  const auto purged = command({"queue.purge", q});
  EXPECT_EQ(purged.map().entries(0).value().integer(), 1);
}

TEST_F(amqp_e2e, a_publish_to_a_missing_exchange_costs_no_other_publish_anything) {
  // Good publishes to a named exchange and to the default one, interleaved
  // with publishes to an exchange that does not exist, from two streams at
  // once on one target (one shared publish channel).
  const auto q = queue("isolated");
  const auto exchange = name("isolated-x");
  command({"exchange.delete", exchange});
  command({"exchange.declare", exchange, "direct"});
  command({"queue.bind", q, exchange, q});
  const auto missing = name("no-such-exchange");
  constexpr int per_stream = 200;
  std::atomic<int> good_ok{0}, bad_not_found{0}, other{0};
  const auto run = [&](int stream_no) {
    auto ctx = in_process_sidecar::context(std::chrono::seconds(60));
    auto publishing = sidecar_->stub().SendStream(ctx.get());
    std::thread writer([&] {
      for (int i = 0; i < per_stream; ++i) {
        v1::SendStreamRequest request;
        request.set_id(static_cast<std::uint64_t>(i));
        const auto body = std::to_string(stream_no) + "." + std::to_string(i);
        if (i % 2 == 1) {
          *request.mutable_send() = publish(missing, q, body, true);
        } else {
          *request.mutable_send() = publish(i % 4 == 0 ? exchange : "", q, body, true);
        }
        if (!publishing->Write(request)) break;
      }
      publishing->WritesDone();
    });
    v1::SendStreamResponse response;
    while (publishing->Read(&response)) {
      const bool good = response.id() % 2 == 0;
      const auto code = response.status().code();
      if (good && code == 0 && response.result().has_published()) {
        ++good_ok;
      } else if (!good && code == static_cast<int>(StatusCode::NOT_FOUND) &&
                 response.status().message().find("404 NOT_FOUND") != std::string::npos) {
        ++bad_not_found;
      } else {
        ++other;
        ADD_FAILURE() << "op " << response.id() << ": " << response.status().code() << " "
                      << response.status().message();
      }
    }
    writer.join();
    EXPECT_TRUE(publishing->Finish().ok());
  };
  std::thread second(run, 2);
  run(1);
  second.join();
  EXPECT_EQ(good_ok.load(), per_stream);  // half of each stream's
  EXPECT_EQ(bad_not_found.load(), per_stream);
  EXPECT_EQ(other.load(), 0);
  // Channel errors only: no connection went down (before the Recv below,
  // whose own connection closes when it ends).
  EXPECT_EQ(sidecar_->stats("events").counters().disconnects(), 0u);

  // Every good publish stored exactly once.
  grpc::ClientContext recv_ctx;
  auto s = subscribe(recv_ctx, q, 500);
  std::set<std::string> bodies;
  v1::RecvResponse delivery;
  while (bodies.size() < per_stream && s->Read(&delivery)) {
    ASSERT_TRUE(delivery.has_delivery()) << delivery.DebugString();
    EXPECT_TRUE(bodies.insert(delivery.delivery().message().body()).second)
        << "duplicate " << delivery.delivery().message().body();
    ack(*s, delivery.delivery().delivery_id());
  }
  EXPECT_EQ(bodies.size(), static_cast<std::size_t>(per_stream));
  s->WritesDone();
  while (s->Read(&delivery)) {
    ADD_FAILURE() << "more than was published: " << delivery.DebugString();
  }
  EXPECT_TRUE(s->Finish().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto declared = command({"queue.declare", q}, {{"passive", true}});
  EXPECT_EQ(declared.map().entries(1).value().integer(), 0) << declared.DebugString();
  command({"exchange.delete", exchange});
}

TEST_F(amqp_e2e, request_reply_through_direct_reply_to) {
  const auto q = queue("rpc");
  // The responder: consumes the requests and publishes each answer to its
  // reply_to with its correlation id, as any AMQP RPC server does.
  grpc::ClientContext ctx;
  auto s = subscribe(ctx, q);
  std::thread responder([&] {
    v1::RecvResponse r;
    if (!s->Read(&r) || !r.has_delivery()) return;
    const auto& request = r.delivery().message();
    auto answer = publish("", request.reply_to(), "re: " + request.body());
    answer.mutable_publish()->mutable_message()->set_correlation_id(request.correlation_id());
    sidecar_->ok(answer);
    ack(*s, r.delivery().delivery_id());
  });
  v1::SendRequest rpc;
  rpc.set_target("events");
  rpc.mutable_request()->set_routing_key(q);
  rpc.mutable_request()->mutable_message()->set_body("ping");
  rpc.mutable_request()->mutable_message()->set_correlation_id("mine");
  v1::SendResponse response;
  const auto status = sidecar_->send(rpc, response);
  responder.join();
  ASSERT_TRUE(status.ok()) << status_text(status);
  EXPECT_EQ(response.response().body(), "re: ping");
  EXPECT_EQ(response.response().correlation_id(), "mine");
  ctx.TryCancel();

  // Nobody answers: the deadline ends it.
  const auto silent = queue("rpc-silent");
  rpc.mutable_request()->set_routing_key(silent);
  const auto late = sidecar_->send(rpc, response, std::chrono::milliseconds(300));
  EXPECT_EQ(late.error_code(), StatusCode::DEADLINE_EXCEEDED) << status_text(late);
  // No queue at all: NOT_FOUND at once (mandatory), not a wait.
  rpc.mutable_request()->set_routing_key(name("nobody"));
  const auto nobody = sidecar_->send(rpc, response);
  EXPECT_EQ(nobody.error_code(), StatusCode::NOT_FOUND) << status_text(nobody);
}

TEST_F(amqp_e2e, a_consumer_cancelled_by_the_broker_ends_the_stream_clearly) {
  const auto q = queue("cancelled");
  grpc::ClientContext ctx;
  auto s = subscribe(ctx, q);
  command({"queue.delete", q});
  v1::RecvResponse r;
  EXPECT_FALSE(s->Read(&r));
  const auto status = s->Finish();
  EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE) << status_text(status);
  EXPECT_NE(status.error_message().find("cancelled"), std::string::npos) << status.error_message();

  // Subscribing to a queue that does not exist: NOT_FOUND.
  grpc::ClientContext missing_ctx;
  missing_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto missing = sidecar_->stub().Recv(&missing_ctx);
  v1::RecvRequest request;
  request.mutable_subscribe()->set_target("events");
  request.mutable_subscribe()->add_sources(name("never-declared"));
  ASSERT_TRUE(missing->Write(request));
  EXPECT_FALSE(missing->Read(&r));
  const auto not_found = missing->Finish();
  EXPECT_EQ(not_found.error_code(), StatusCode::NOT_FOUND) << status_text(not_found);
}

TEST_F(amqp_e2e, an_ack_for_an_unknown_delivery_id_ends_the_stream) {
  const auto q = queue("unknown-ack");
  grpc::ClientContext ctx;
  auto s = subscribe(ctx, q);
  ack(*s, 999);
  v1::RecvResponse r;
  EXPECT_FALSE(s->Read(&r));
  const auto status = s->Finish();
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT) << status_text(status);
  EXPECT_EQ(status.error_message(), "delivery id 999 is unknown or already settled");
}

TEST_F(amqp_e2e, auto_ack_deliveries_are_settled_once_written) {
  const auto q = queue("auto");
  for (int i = 0; i < 50; ++i) sidecar_->ok(publish("", q, std::to_string(i)));
  grpc::ClientContext ctx;
  auto s = subscribe(ctx, q, 10, v1::ACK_MODE_AUTO);
  v1::RecvResponse r;
  int received = 0;
  while (received < 50 && s->Read(&r)) received += r.has_delivery();
  EXPECT_EQ(received, 50);  // beyond the credit of 10: each was acked once written
  ctx.TryCancel();
}

}  // namespace
}  // namespace brokerside
