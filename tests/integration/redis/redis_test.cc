// The Redis adapter end to end: gRPC client -> sidecar -> pool -> a real
// redis-server started by scripts/brokers.sh.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>

#include "brokerside/v1/brokerside.grpc.pb.h"
#include "tests/support/brokers_env.h"
#include "tests/support/in_process_sidecar.h"

namespace brokerside::sidecar {
namespace {

using grpc::StatusCode;

class redis_e2e : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto env = testing_support::brokers_env();
    sidecar_ = std::make_unique<testing_support::in_process_sidecar>(
        "  cache: {url: '" + env.at("BROKERSIDE_REDIS_URL") +
        "', pool: {max_connections: 4}}\n"
        "  db2: {url: 'redis+unix://" +
        env.at("BROKERSIDE_REDIS_SOCKET") + "?db=2'}\n" + "  victim: {url: '" +
        env.at("BROKERSIDE_REDIS_URL") + "?client_name=" + victim_name() + "'}\n" +
        "  wrongpass: {url: 'redis://nobody:hunter2@" + env.at("BROKERSIDE_REDIS_URL").substr(8) +
        "', retry: {max_retries: 0}}\n" + "  small: {url: '" + env.at("BROKERSIDE_REDIS_URL") +
        "', max_frame_bytes: 1KiB}\n" + "  single: {url: '" + env.at("BROKERSIDE_REDIS_URL") +
        "', pool: {max_connections: 1, min_idle: 1}}\n");
    stub_ = &sidecar_->stub();
  }

  void TearDown() override { sidecar_.reset(); }

  static std::string victim_name() { return "e2e-victim-" + std::to_string(::getpid()); }

  // Kills the "victim" target's connections, found by their name, which is
  // unique to this process: other tests' connections on the same server live.
  // Returns how many were killed.
  int kill_victim_connections() {
    const auto lease = acquire("cache");
    const auto clients = ok(command("cache", {"CLIENT", "LIST"}, lease));
    const std::string list = clients.has_bytes() ? clients.bytes() : clients.text();
    int killed = 0;
    for (std::size_t at = 0; (at = list.find("id=", at)) != std::string::npos;) {
      const auto end = list.find('\n', at);
      const auto line = list.substr(at, end - at);
      at = end;
      if (line.find(" name=" + victim_name() + " ") == std::string::npos) continue;
      const auto id = line.substr(3, line.find(' ') - 3);
      killed +=
          static_cast<int>(ok(command("cache", {"CLIENT", "KILL", "ID", id}, lease)).integer());
    }
    v1::ReleaseRequest release;
    release.set_lease(lease);
    v1::ReleaseResponse released;
    EXPECT_TRUE(stub_->Release(context().get(), release, &released).ok());
    return killed;
  }

  static std::unique_ptr<grpc::ClientContext> context() {
    return testing_support::in_process_sidecar::context();
  }

  static v1::SendRequest command(const std::string& target, std::vector<std::string> args,
                                 const std::string& lease = "") {
    return testing_support::in_process_sidecar::command(target, std::move(args), lease);
  }

  v1::Value ok(const v1::SendRequest& request) { return sidecar_->ok(request); }
  std::string acquire(const std::string& target) { return sidecar_->acquire(target); }

  std::unique_ptr<testing_support::in_process_sidecar> sidecar_;
  v1::Broker::Stub* stub_ = nullptr;
};

TEST_F(redis_e2e, replies_become_structured_values) {
  EXPECT_EQ(ok(command("cache", {"SET", "e2e:k", "v\r\n\0x"})).text(), "OK");
  EXPECT_EQ(ok(command("cache", {"GET", "e2e:k"})).bytes(), "v\r\n");
  EXPECT_TRUE(ok(command("cache", {"GET", "e2e:missing"})).null());
  EXPECT_EQ(ok(command("cache", {"DEL", "e2e:n"})).kind_case(), v1::Value::kInteger);
  EXPECT_EQ(ok(command("cache", {"INCRBY", "e2e:n", "41"})).integer(), 41);
  // A Redis error reply is a value; the call itself succeeds.
  const auto error = ok(command("cache", {"LPUSH", "e2e:k", "x"}));
  EXPECT_EQ(error.error().rfind("WRONGTYPE", 0), 0u) << error.DebugString();
  ok(command("cache", {"DEL", "e2e:h"}));
  ok(command("cache", {"HSET", "e2e:h", "a", "1", "b", "2"}));
  // RESP3 (HELLO 3 succeeded): HGETALL is a map.
  const auto map = ok(command("cache", {"HGETALL", "e2e:h"}));
  ASSERT_EQ(map.map().entries_size(), 2) << map.DebugString();
  ok(command("cache", {"DEL", "e2e:l"}));
  ok(command("cache", {"RPUSH", "e2e:l", "x", "y"}));
  const auto list = ok(command("cache", {"LRANGE", "e2e:l", "0", "-1"}));
  ASSERT_EQ(list.array().values_size(), 2);
  EXPECT_EQ(list.array().values(1).bytes(), "y");
  EXPECT_TRUE(ok(command("cache", {"SISMEMBER", "e2e:none", "x"})).has_integer() ||
              ok(command("cache", {"SISMEMBER", "e2e:none", "x"})).has_boolean());
}

class redis_recv : public redis_e2e {
 protected:
  static std::string channel(const std::string& name) {
    return "e2e:" + name + ":" + std::to_string(::getpid());
  }

  void publish(const std::string& channel, const std::string& body) {
    v1::SendRequest request;
    request.set_target("cache");
    request.mutable_publish()->set_destination(channel);
    request.mutable_publish()->mutable_message()->set_body(body);
    v1::SendResponse response;
    ASSERT_TRUE(stub_->Send(context().get(), request, &response).ok());
  }

  using stream = grpc::ClientReaderWriter<v1::RecvRequest, v1::RecvResponse>;

  std::unique_ptr<stream> subscribe(grpc::ClientContext& ctx, const std::string& target,
                                    std::vector<std::string> sources,
                                    v1::SourceKind kind = v1::SOURCE_KIND_DEFAULT,
                                    std::uint32_t credit = 0) {
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    auto s = stub_->Recv(&ctx);
    v1::RecvRequest request;
    request.mutable_subscribe()->set_target(target);
    for (auto& source : sources) request.mutable_subscribe()->add_sources(std::move(source));
    request.mutable_subscribe()->set_kind(kind);
    request.mutable_subscribe()->set_credit(credit);
    EXPECT_TRUE(s->Write(request));
    v1::RecvResponse first;
    EXPECT_TRUE(s->Read(&first));
    EXPECT_TRUE(first.has_subscribed()) << first.DebugString();
    return s;
  }
};

TEST_F(redis_recv, channel_messages_stream_in_order) {
  grpc::ClientContext ctx;
  const auto news = channel("news");
  auto s = subscribe(ctx, "cache", {news});
  // (Appending, not "m" + to_string(i): GCC 12 warns falsely on that, -Wrestrict.)
  const auto body = [](int i) { return std::string("m").append(std::to_string(i)); };
  for (int i = 0; i < 3; ++i) publish(news, body(i));
  for (int i = 0; i < 3; ++i) {
    v1::RecvResponse response;
    ASSERT_TRUE(s->Read(&response));
    ASSERT_TRUE(response.has_delivery()) << response.DebugString();
    EXPECT_EQ(response.delivery().delivery_id(), static_cast<std::uint64_t>(i + 1));
    EXPECT_EQ(response.delivery().source(), news);
    EXPECT_EQ(response.delivery().message().body(), body(i));
  }
  s->WritesDone();
  v1::RecvResponse rest;
  while (s->Read(&rest)) {
  }
  EXPECT_TRUE(s->Finish().ok());
}

TEST_F(redis_recv, pattern_subscription_names_the_pattern) {
  grpc::ClientContext ctx;
  const auto pattern = channel("pat") + ":*";
  auto s = subscribe(ctx, "cache", {pattern}, v1::SOURCE_KIND_PATTERN);
  publish(channel("pat") + ":a", "hello");
  // ... and from a client that is not brokerside at all.
  const auto env = testing_support::brokers_env();
  ASSERT_EQ(std::system(("redis-cli -p " + env.at("BROKERSIDE_REDIS_PORT") + " PUBLISH " +
                         channel("pat") + ":b 'from redis-cli' >/dev/null")
                            .c_str()),
            0);
  v1::RecvResponse response;
  ASSERT_TRUE(s->Read(&response));
  EXPECT_EQ(response.delivery().pattern(), pattern);
  EXPECT_EQ(response.delivery().source(), channel("pat") + ":a");
  EXPECT_EQ(response.delivery().message().body(), "hello");
  ASSERT_TRUE(s->Read(&response));
  EXPECT_EQ(response.delivery().pattern(), pattern);
  EXPECT_EQ(response.delivery().source(), channel("pat") + ":b");
  EXPECT_EQ(response.delivery().message().body(), "from redis-cli");
  ctx.TryCancel();
}

TEST_F(redis_recv, subscription_is_restored_after_its_connection_is_killed) {
  grpc::ClientContext ctx;
  const auto news = channel("restore");
  auto s = subscribe(ctx, "victim", {news});
  ASSERT_GE(kill_victim_connections(), 1);
  // Publish until the restored subscription receives (bounded: 50 x 100 ms).
  std::atomic<bool> received{false};
  std::thread publisher([&] {
    for (int i = 0; i < 50 && !received; ++i) {
      publish(news, "after");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  v1::RecvResponse response;
  const bool got = s->Read(&response);
  received = true;
  publisher.join();
  ASSERT_TRUE(got);
  EXPECT_EQ(response.delivery().message().body(), "after");
  ctx.TryCancel();
}

TEST_F(redis_recv, a_slow_client_gets_drops_counted_and_announced) {
  grpc::ClientContext ctx;
  const auto news = channel("slow");
  auto s = subscribe(ctx, "cache", {news}, v1::SOURCE_KIND_DEFAULT, 4);
  // 40 x 256 KiB is far beyond the HTTP/2 window: the sidecar's buffer of 4
  // fills while this client does not read.
  const std::string big(256 * 1024, 'x');
  for (int i = 0; i < 40; ++i) publish(news, big);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // Reading now drains the buffer; the notice of what was dropped follows.
  std::uint64_t deliveries = 0, dropped = 0;
  v1::RecvResponse response;
  while (dropped == 0 && s->Read(&response)) {
    if (response.has_dropped()) dropped = response.dropped().total();
    if (response.has_delivery()) ++deliveries;
  }
  EXPECT_GT(dropped, 0u);
  // Once the client keeps up, deliveries flow again.
  publish(news, "last");
  bool saw_last = false;
  while (!saw_last && s->Read(&response)) {
    // On a busy machine the 40 may still be arriving: later drops come in
    // later notices, each with the total so far.
    if (response.has_dropped()) dropped = response.dropped().total();
    if (response.has_delivery()) {
      saw_last = response.delivery().message().body() == "last";
      deliveries += saw_last ? 0 : 1;
    }
  }
  EXPECT_TRUE(saw_last);
  EXPECT_EQ(deliveries + dropped, 40u);
  v1::StatsRequest stats_request;
  stats_request.set_target("cache");
  v1::StatsResponse stats;
  ASSERT_TRUE(stub_->Stats(context().get(), stats_request, &stats).ok());
  EXPECT_GE(stats.targets(0).counters().deliveries_dropped(), dropped);
  ctx.TryCancel();
}

TEST_F(redis_e2e, a_reply_beyond_max_frame_bytes_is_refused_and_the_target_recovers) {
  ok(command("cache", {"SET", "e2e:big", std::string(4096, 'x')}));
  v1::SendResponse response;
  const auto status = stub_->Send(context().get(), command("small", {"GET", "e2e:big"}), &response);
  EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_NE(status.error_message().find("max_frame_bytes"), std::string::npos);
  EXPECT_EQ(ok(command("small", {"PING"})).text(), "PONG");  // a new connection
}

TEST_F(redis_e2e, unix_socket_target_selects_its_database) {
  ok(command("db2", {"SET", "e2e:db", "two"}));
  EXPECT_EQ(ok(command("db2", {"GET", "e2e:db"})).bytes(), "two");
  ok(command("cache", {"DEL", "e2e:db"}));
  EXPECT_TRUE(ok(command("cache", {"GET", "e2e:db"})).null());  // db 0
}

TEST_F(redis_e2e, publish_is_confirmed_with_its_receiver_count) {
  v1::SendRequest request;
  request.set_target("cache");
  request.mutable_publish()->set_destination("e2e:nobody-listens");
  request.mutable_publish()->mutable_message()->set_json(R"({"hello": 1})");
  v1::SendResponse response;
  auto status = stub_->Send(context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_TRUE(response.has_published());
  EXPECT_EQ(response.published().receivers(), 0);
  request.mutable_publish()->set_destination("");
  EXPECT_EQ(stub_->Send(context().get(), request, &response).error_code(),
            StatusCode::INVALID_ARGUMENT);
  v1::SendRequest rpc;
  rpc.set_target("cache");
  rpc.mutable_request()->set_destination("x");
  EXPECT_EQ(stub_->Send(context().get(), rpc, &response).error_code(),
            StatusCode::INVALID_ARGUMENT);
}

TEST_F(redis_e2e, blocking_and_stateful_commands_need_a_lease) {
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"BLPOP", "e2e:q", "1"},
                                             {"MULTI"},
                                             {"WATCH", "x"},
                                             {"XREAD", "BLOCK", "10", "STREAMS", "s", "$"}}) {
    v1::SendResponse response;
    const auto status = stub_->Send(context().get(), command("cache", args), &response);
    EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION) << args[0];
    EXPECT_NE(status.error_message().find("lease"), std::string::npos) << status.error_message();
  }
  v1::SendResponse response;
  EXPECT_EQ(
      stub_->Send(context().get(), command("cache", {"SUBSCRIBE", "x"}), &response).error_code(),
      StatusCode::FAILED_PRECONDITION);
}

TEST_F(redis_e2e, transaction_on_a_lease) {
  const auto lease = acquire("cache");
  ASSERT_FALSE(lease.empty());
  EXPECT_EQ(ok(command("cache", {"MULTI"}, lease)).text(), "OK");
  EXPECT_EQ(ok(command("cache", {"SET", "e2e:tx", "1"}, lease)).text(), "QUEUED");
  EXPECT_EQ(ok(command("cache", {"INCR", "e2e:tx"}, lease)).text(), "QUEUED");
  const auto exec = ok(command("cache", {"EXEC"}, lease));
  ASSERT_EQ(exec.array().values_size(), 2) << exec.DebugString();
  EXPECT_EQ(exec.array().values(1).integer(), 2);
  v1::ReleaseRequest release;
  release.set_lease(lease);
  v1::ReleaseResponse released;
  EXPECT_TRUE(stub_->Release(context().get(), release, &released).ok());
}

TEST_F(redis_e2e, watch_on_a_lease_aborts_the_transaction_when_another_caller_writes) {
  const auto key = "e2e:watched:" + std::to_string(::getpid());
  ok(command("cache", {"SET", key, "1"}));
  const auto lease = acquire("cache");
  EXPECT_EQ(ok(command("cache", {"WATCH", key}, lease)).text(), "OK");
  ok(command("cache", {"SET", key, "changed"}));  // another caller, on a shared connection
  EXPECT_EQ(ok(command("cache", {"MULTI"}, lease)).text(), "OK");
  EXPECT_EQ(ok(command("cache", {"SET", key, "mine"}, lease)).text(), "QUEUED");
  EXPECT_TRUE(ok(command("cache", {"EXEC"}, lease)).null()) << "EXEC ran despite the WATCH";
  EXPECT_EQ(ok(command("cache", {"GET", key})).bytes(), "changed");
  // Unchanged, the same sequence commits.
  EXPECT_EQ(ok(command("cache", {"WATCH", key}, lease)).text(), "OK");
  ok(command("cache", {"MULTI"}, lease));
  ok(command("cache", {"SET", key, "mine"}, lease));
  EXPECT_EQ(ok(command("cache", {"EXEC"}, lease)).array().values_size(), 1);
  EXPECT_EQ(ok(command("cache", {"GET", key})).bytes(), "mine");
  v1::ReleaseRequest release;
  release.set_lease(lease);
  v1::ReleaseResponse released;
  EXPECT_TRUE(stub_->Release(context().get(), release, &released).ok());
}

TEST_F(redis_e2e, a_refused_password_is_a_clear_permission_denied_without_the_password) {
  v1::SendResponse response;
  const auto status = stub_->Send(context().get(), command("wrongpass", {"PING"}), &response);
  EXPECT_EQ(status.error_code(), StatusCode::PERMISSION_DENIED);
  EXPECT_NE(status.error_message().find("WRONGPASS"), std::string::npos) << status.error_message();
  EXPECT_NE(status.error_message().find("nobody:***@"), std::string::npos)
      << status.error_message();
  EXPECT_EQ(status.error_message().find("hunter2"), std::string::npos) << status.error_message();
}

TEST_F(redis_e2e, blocking_pop_on_a_lease_gets_what_another_caller_pushes) {
  ok(command("cache", {"DEL", "e2e:q"}));
  const auto lease = acquire("cache");
  std::thread pusher([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ok(command("cache", {"RPUSH", "e2e:q", "job"}));
  });
  const auto popped = ok(command("cache", {"BLPOP", "e2e:q", "5"}, lease));
  pusher.join();
  ASSERT_EQ(popped.array().values_size(), 2) << popped.DebugString();
  EXPECT_EQ(popped.array().values(1).bytes(), "job");
}

TEST_F(redis_e2e, the_callers_deadline_bounds_a_blocked_command) {
  const auto lease = acquire("cache");
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  v1::SendResponse response;
  const auto status =
      stub_->Send(&ctx, command("cache", {"BLPOP", "e2e:never", "0"}, lease), &response);
  EXPECT_EQ(status.error_code(), StatusCode::DEADLINE_EXCEEDED) << status.error_message();
  // The connection is still blocked in BLPOP: the holder discards it.
  v1::ReleaseRequest release;
  release.set_lease(lease);
  release.set_discard(true);
  v1::ReleaseResponse released;
  EXPECT_TRUE(stub_->Release(context().get(), release, &released).ok());
  EXPECT_EQ(ok(command("cache", {"PING"})).text(), "PONG");
}

TEST_F(redis_e2e, a_lease_released_while_blocked_never_serves_the_next_caller) {
  // The holder forgets discard=true: the sidecar knows the connection still
  // owes BLPOP's answer and closes it instead of pooling it.
  const auto lease = acquire("single");
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  v1::SendResponse response;
  const auto status =
      stub_->Send(&ctx, command("single", {"BLPOP", "e2e:poison", "3"}, lease), &response);
  EXPECT_EQ(status.error_code(), StatusCode::DEADLINE_EXCEEDED) << status.error_message();
  sidecar_->release(lease, /*discard=*/false);
  for (int i = 0; i < 3; ++i) {
    const auto got = sidecar_->send(command("single", {"GET", "e2e:poison:other"}), response,
                                    std::chrono::milliseconds(1000));
    EXPECT_TRUE(got.ok()) << "GET " << i << ": " << got.error_code() << " " << got.error_message();
  }
}

TEST_F(redis_e2e, send_stream_pipelines_a_hundred_thousand_commands) {
  // ~2 s in Release; several times that under ASan.
  auto ctx = testing_support::in_process_sidecar::context(std::chrono::seconds(90));
  auto stream = stub_->SendStream(ctx.get());
  constexpr int count = 100'000;
  std::thread writer([&] {
    for (int i = 0; i < count; ++i) {
      v1::SendStreamRequest request;
      request.set_id(static_cast<std::uint64_t>(i));
      // Even ids write their key; odd ids ECHO their id back.
      *request.mutable_send() =
          i % 2 == 0 ? command("cache", {"SET", "e2e:s:" + std::to_string(i), std::to_string(i)})
                     : command("cache", {"ECHO", std::to_string(i)});
      if (!stream->Write(request)) break;
    }
    stream->WritesDone();
  });
  // Every reply matched to its own command, once: an ECHO's reply is its
  // own id, a SET's is OK, and the sampled keys hold their own values.
  std::vector<bool> seen(count, false);
  int matched = 0;
  v1::SendStreamResponse response;
  while (stream->Read(&response)) {
    const auto id = response.id();
    if (id >= seen.size() || seen[id] || response.status().code() != 0) continue;
    const auto& reply = response.result().reply();
    const bool right = id % 2 == 0 ? reply.text() == "OK" : reply.bytes() == std::to_string(id);
    seen[id] = true;
    matched += right ? 1 : 0;
  }
  writer.join();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(matched, count);
  for (const int i : {0, 4322, 77'778, count - 2}) {
    EXPECT_EQ(ok(command("cache", {"GET", "e2e:s:" + std::to_string(i)})).bytes(),
              std::to_string(i));
  }
  v1::StatsRequest stats_request;
  stats_request.set_target("cache");
  v1::StatsResponse stats;
  ASSERT_TRUE(stub_->Stats(context().get(), stats_request, &stats).ok());
  const auto& cache = stats.targets(0);
  EXPECT_TRUE(cache.healthy());
  EXPECT_LE(cache.connections_size(), 4);
  EXPECT_EQ(cache.pool().in_flight(), 0u);
  EXPECT_GE(cache.counters().operations(), static_cast<std::uint64_t>(count));
}

TEST_F(redis_e2e, send_stream_outcomes_larger_than_grpcs_write_buffer_all_arrive) {
  // Outcomes that complete together leave with gRPC's buffer hint on all
  // but the last; a hinted write of more than its 64 KiB write buffer
  // completes only once written, so this would stall if nothing flushed it.
  const std::string value(300 * 1024, 'v');
  ok(command("cache", {"SET", "e2e:large", value}));
  auto ctx = testing_support::in_process_sidecar::context(std::chrono::seconds(30));
  auto stream = stub_->SendStream(ctx.get());
  constexpr int count = 40;
  for (int i = 0; i < count; ++i) {
    v1::SendStreamRequest request;
    request.set_id(static_cast<std::uint64_t>(i));
    *request.mutable_send() = command("cache", {"GET", "e2e:large"});
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  int whole = 0;
  v1::SendStreamResponse response;
  while (stream->Read(&response)) {
    if (response.status().code() == 0 && response.result().reply().bytes() == value) ++whole;
  }
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(whole, count);
}

TEST_F(redis_e2e, send_stream_batches_and_coalesced_outcomes) {
  auto ctx = testing_support::in_process_sidecar::context(std::chrono::seconds(30));
  auto stream = stub_->SendStream(ctx.get());
  // Before any batch: one operation, one answer in the single fields.
  v1::SendStreamRequest single;
  single.set_id(7);
  *single.mutable_send() = command("cache", {"ECHO", "single"});
  ASSERT_TRUE(stream->Write(single));
  v1::SendStreamResponse response;
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.id(), 7u);
  EXPECT_EQ(response.result().reply().bytes(), "single");
  EXPECT_EQ(response.outcomes_size(), 0);

  // Then 40 messages of 50 operations each; the first also carries a single
  // operation (id 5000), and operation 123 has no argv (INVALID_ARGUMENT).
  constexpr int messages = 40, per_message = 50, count = messages * per_message;
  std::thread writer([&] {
    for (int m = 0; m < messages; ++m) {
      v1::SendStreamRequest batch;
      if (m == 0) {
        batch.set_id(5000);
        *batch.mutable_send() = command("cache", {"ECHO", "5000"});
      }
      for (int i = m * per_message; i < (m + 1) * per_message; ++i) {
        auto& op = *batch.add_operations();
        op.set_id(static_cast<std::uint64_t>(i));
        *op.mutable_send() =
            i == 123 ? command("cache", {}) : command("cache", {"ECHO", std::to_string(i)});
      }
      if (!stream->Write(batch)) break;
    }
    stream->WritesDone();
  });
  std::map<std::uint64_t, int> answers;
  int responses = 0, largest = 0, right = 0;
  while (stream->Read(&response)) {
    ++responses;
    EXPECT_EQ(response.id(), 0u);
    EXPECT_FALSE(response.has_result());
    largest = std::max(largest, response.outcomes_size());
    for (const auto& outcome : response.outcomes()) {
      ++answers[outcome.id()];
      if (outcome.id() == 123) {
        EXPECT_EQ(outcome.status().code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
        EXPECT_FALSE(outcome.has_result());
        continue;
      }
      EXPECT_EQ(outcome.status().code(), 0) << outcome.status().message();
      right += outcome.result().reply().bytes() == std::to_string(outcome.id()) ? 1 : 0;
    }
  }
  writer.join();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(answers.size(), static_cast<std::size_t>(count + 1));
  for (const auto& [id, times] : answers) EXPECT_EQ(times, 1) << "id " << id;
  EXPECT_EQ(right, count);  // all but 123, plus 5000
  // Outcomes that completed together shared a message.
  EXPECT_GT(largest, 1);
  EXPECT_LT(responses, count);
}

TEST_F(redis_e2e, killed_connections_are_replaced_and_reads_retried) {
  ok(command("victim", {"SET", "e2e:survivor", "yes"}));
  ASSERT_GE(kill_victim_connections(), 1);
  // GET is read-only, so a GET that meets a dead connection is retried.
  EXPECT_EQ(ok(command("victim", {"GET", "e2e:survivor"})).bytes(), "yes");
  v1::StatsRequest stats_request;
  stats_request.set_target("victim");
  v1::StatsResponse stats;
  ASSERT_TRUE(stub_->Stats(context().get(), stats_request, &stats).ok());
  EXPECT_GE(stats.targets(0).counters().disconnects(), 1u);
}

}  // namespace
}  // namespace brokerside::sidecar
