// The gRPC plumbing end to end in process: a real server on a loopback port
// and a real client channel, no broker needed.
#include <dirent.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/post.hpp>
#include <cstdlib>
#include <future>
#include <set>
#include <thread>

#include "brokerside/v1/brokerside.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "pool/errc.h"
#include "sidecar/config.h"
#include "sidecar/grpc_server.h"
#include "sidecar/held_writes.h"
#include "sidecar/target_set.h"
#include "tests/support/stub_adapter/stub_adapter.h"
#include "tests/support/tcp_info.h"

namespace brokerside::sidecar {
namespace {

using grpc::StatusCode;
using grpc::health::v1::HealthCheckResponse;

class grpc_plumbing : public ::testing::Test {
 protected:
  void SetUp() override {
    testing_support::stub_world() = {};
    config_ = load_config(R"(
listen: {grpc: '127.0.0.1:0', admin: ''}
server: {max_message_bytes: 64KiB, shutdown_grace: 2s}
targets:
)" + targets_yaml() + "  events: {url: 'unbuilt://127.0.0.1:4222'}\n",
                          {}, testing_support::test_adapters());
    targets_ = std::make_unique<target_set>(io_.get_executor(), config_);
    server_ = std::make_unique<grpc_server>(io_, config_, metrics_, *targets_);
    server_->start();
    targets_->start(
        [this](const std::string& t, bool healthy) { server_->set_target_health(t, healthy); });
    io_thread_ = std::thread([this] { server_->run(); });
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::Broker::NewStub(channel_);
  }

  void TearDown() override {
    server_->shutdown(std::chrono::milliseconds(100));
    targets_->stop();
    work_.reset();
    io_thread_.join();
  }

  // The "cache" target: a Redis URL (nothing listens there) unless a
  // fixture below says otherwise. "events" is an adapter not in the build.
  virtual std::string targets_yaml() {
    return "  cache: {url: 'redis://user:hunter2@127.0.0.1:6379/0'}\n";
  }

  std::unique_ptr<grpc::ClientContext> context() {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return c;
  }

  HealthCheckResponse::ServingStatus health(const std::string& service, StatusCode expect) {
    auto stub = grpc::health::v1::Health::NewStub(channel_);
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    const auto status = stub->Check(context().get(), request, &response);
    EXPECT_EQ(status.error_code(), expect) << status.error_message();
    return response.status();
  }

  grpc::Status send(const v1::SendRequest& request) {
    v1::SendResponse response;
    return stub_->Send(context().get(), request, &response);
  }

  static v1::SendRequest get_request(const std::string& target) {
    v1::SendRequest request;
    request.set_target(target);
    request.mutable_command()->add_args("GET");
    request.mutable_command()->add_args("k");
    return request;
  }

  config config_;
  metrics metrics_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ =
      boost::asio::make_work_guard(io_);
  std::thread io_thread_;
  std::unique_ptr<target_set> targets_;
  std::unique_ptr<grpc_server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Broker::Stub> stub_;
};

TEST_F(grpc_plumbing, health_overall_serving_targets_not_serving) {
  EXPECT_EQ(health("", StatusCode::OK), HealthCheckResponse::SERVING);
  // No adapter connects in this build, so no target is reachable.
  EXPECT_EQ(health("cache", StatusCode::OK), HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(health("events", StatusCode::OK), HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(server_->target_healthy("cache"));
  health("no-such-target", StatusCode::NOT_FOUND);
}

TEST_F(grpc_plumbing, target_health_follows_set_target_health) {
  server_->set_target_health("cache", true);
  EXPECT_EQ(health("cache", StatusCode::OK), HealthCheckResponse::SERVING);
  EXPECT_TRUE(server_->target_healthy("cache"));
  server_->set_target_health("cache", false);
  EXPECT_EQ(health("cache", StatusCode::OK), HealthCheckResponse::NOT_SERVING);
}

TEST_F(grpc_plumbing, send_to_unknown_target_is_not_found) {
  const auto status = send(get_request("nope"));
  EXPECT_EQ(status.error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "unknown target 'nope' (configured: cache, events)");
  EXPECT_EQ(send(get_request("")).error_code(), StatusCode::INVALID_ARGUMENT);
}

TEST_F(grpc_plumbing, send_without_operation_or_argv_is_invalid) {
  v1::SendRequest request;
  request.set_target("cache");
  auto status = send(request);
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "no operation: set one of command, publish, request");
  request.mutable_command();
  status = send(request);
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "command.args: empty");
}

TEST_F(grpc_plumbing, missing_adapter_is_unimplemented_and_named) {
  auto status = send(get_request("events"));
  EXPECT_EQ(status.error_code(), StatusCode::UNIMPLEMENTED);
  EXPECT_NE(status.error_message().find("the unbuilt adapter is not implemented"),
            std::string::npos)
      << status.error_message();
  v1::SendRequest publish;
  publish.set_target("events");
  publish.mutable_publish()->set_destination("orders");
  status = send(publish);
  EXPECT_EQ(status.error_code(), StatusCode::UNIMPLEMENTED);
  EXPECT_NE(status.error_message().find("the unbuilt adapter"), std::string::npos);
}

TEST_F(grpc_plumbing, oversized_request_is_resource_exhausted) {
  auto request = get_request("cache");
  request.mutable_command()->add_args(std::string(100 * 1024, 'x'));
  EXPECT_EQ(send(request).error_code(), StatusCode::RESOURCE_EXHAUSTED);
  // The channel stays usable afterwards.
  EXPECT_EQ(send(get_request("nope")).error_code(), StatusCode::NOT_FOUND);
}

TEST_F(grpc_plumbing, send_stream_answers_every_operation_by_id) {
  auto ctx = context();
  auto stream = stub_->SendStream(ctx.get());
  const std::pair<std::string, StatusCode> operations[] = {
      {"events", StatusCode::UNIMPLEMENTED},
      {"nope", StatusCode::NOT_FOUND},
      {"events", StatusCode::UNIMPLEMENTED},
  };
  std::uint64_t id = 100;
  for (const auto& [target, code] : operations) {
    v1::SendStreamRequest request;
    request.set_id(id++);
    *request.mutable_send() = get_request(target);
    ASSERT_TRUE(stream->Write(request));
  }
  stream->WritesDone();
  std::map<std::uint64_t, int> codes;
  v1::SendStreamResponse response;
  while (stream->Read(&response)) codes[response.id()] = response.status().code();
  EXPECT_TRUE(stream->Finish().ok());
  ASSERT_EQ(codes.size(), 3u);
  EXPECT_EQ(codes[100], static_cast<int>(StatusCode::UNIMPLEMENTED));
  EXPECT_EQ(codes[101], static_cast<int>(StatusCode::NOT_FOUND));
  EXPECT_EQ(codes[102], static_cast<int>(StatusCode::UNIMPLEMENTED));
}

TEST_F(grpc_plumbing, send_stream_closed_at_once_finishes_ok) {
  auto ctx = context();
  auto stream = stub_->SendStream(ctx.get());
  stream->WritesDone();
  v1::SendStreamResponse response;
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(grpc_plumbing, recv_must_start_with_subscribe) {
  auto ctx = context();
  auto stream = stub_->Recv(ctx.get());
  v1::RecvRequest ack;
  ack.mutable_ack()->add_delivery_ids(1);
  stream->Write(ack);
  const auto status = stream->Finish();
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "the first message on a Recv stream must be subscribe");
}

TEST_F(grpc_plumbing, recv_subscribe_checks_target_and_sources) {
  const std::tuple<std::string, bool, StatusCode> cases[] = {
      {"nope", true, StatusCode::NOT_FOUND},
      {"cache", false, StatusCode::INVALID_ARGUMENT},
      {"events", true, StatusCode::UNIMPLEMENTED},
  };
  for (const auto& [target, with_source, code] : cases) {
    auto ctx = context();
    auto stream = stub_->Recv(ctx.get());
    v1::RecvRequest subscribe;
    subscribe.mutable_subscribe()->set_target(target);
    if (with_source) subscribe.mutable_subscribe()->add_sources("news");
    stream->Write(subscribe);
    EXPECT_EQ(stream->Finish().error_code(), code) << target;
  }
}

TEST_F(grpc_plumbing, leases_without_an_adapter_or_lease) {
  v1::AcquireRequest acquire;
  acquire.set_target("nope");
  v1::AcquireResponse acquired;
  EXPECT_EQ(stub_->Acquire(context().get(), acquire, &acquired).error_code(),
            StatusCode::NOT_FOUND);
  acquire.set_target("events");
  EXPECT_EQ(stub_->Acquire(context().get(), acquire, &acquired).error_code(),
            StatusCode::UNIMPLEMENTED);
  v1::RenewRequest renew;
  renew.set_lease("cache/l-1");
  v1::RenewResponse renewed;
  EXPECT_EQ(stub_->Renew(context().get(), renew, &renewed).error_code(), StatusCode::NOT_FOUND);
  v1::ReleaseRequest release;
  release.set_lease("l-1");
  v1::ReleaseResponse released;
  EXPECT_EQ(stub_->Release(context().get(), release, &released).error_code(),
            StatusCode::NOT_FOUND);
}

TEST_F(grpc_plumbing, stats_lists_targets_without_secrets) {
  v1::StatsRequest request;
  v1::StatsResponse response;
  ASSERT_TRUE(stub_->Stats(context().get(), request, &response).ok());
  ASSERT_EQ(response.targets_size(), 2);
  const auto& cache = response.targets(0);
  EXPECT_EQ(cache.name(), "cache");
  EXPECT_EQ(cache.adapter(), "redis");
  EXPECT_TRUE(cache.adapter_implemented());
  EXPECT_FALSE(response.targets(1).adapter_implemented());
  ASSERT_EQ(cache.urls_size(), 1);
  EXPECT_EQ(cache.urls(0), "redis://user:***@127.0.0.1:6379/0");
  EXPECT_EQ(cache.pool().max_connections(), 8u);
  EXPECT_FALSE(response.version().empty());
  EXPECT_EQ(response.DebugString().find("hunter2"), std::string::npos);

  request.set_target("events");
  response.Clear();
  ASSERT_TRUE(stub_->Stats(context().get(), request, &response).ok());
  ASSERT_EQ(response.targets_size(), 1);
  EXPECT_EQ(response.targets(0).name(), "events");
  request.set_target("nope");
  EXPECT_EQ(stub_->Stats(context().get(), request, &response).error_code(), StatusCode::NOT_FOUND);
}

TEST_F(grpc_plumbing, calls_are_counted_in_metrics) {
  send(get_request("nope"));
  const auto text = metrics_.render();
  EXPECT_NE(text.find("brokerside_grpc_calls_total{method=\"Send\",code=\"NOT_FOUND\"} 1"),
            std::string::npos)
      << text;
}

TEST_F(grpc_plumbing, shutdown_turns_health_off_and_refuses_new_calls) {
  server_->shutdown(std::chrono::milliseconds(100));
  EXPECT_FALSE(server_->serving());
  const auto status = send(get_request("cache"));
  EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(grpc_plumbing, health_watch_follows_changes_and_ends_at_shutdown) {
  auto stub = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext ctx;
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("cache");
  auto watch = stub->Watch(&ctx, request);
  HealthCheckResponse response;
  ASSERT_TRUE(watch->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  server_->set_target_health("cache", true);
  ASSERT_TRUE(watch->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  // A long grace: had the watch been left open, shutdown would cancel it at
  // the deadline and the stream would end CANCELLED instead of OK.
  std::thread drain([this] { server_->shutdown(std::chrono::seconds(30)); });
  ASSERT_TRUE(watch->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(watch->Read(&response));
  EXPECT_TRUE(watch->Finish().ok());
  drain.join();
}

TEST_F(grpc_plumbing, health_watch_of_an_unknown_service_says_so) {
  auto stub = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("nope");
  auto watch = stub->Watch(&ctx, request);
  HealthCheckResponse response;
  ASSERT_TRUE(watch->Read(&response));
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVICE_UNKNOWN);
  ctx.TryCancel();
}

// The same server with the test-only stub adapter (an echo over fake
// connections) behind the "cache" target: pools, leases, health, Stats and
// Send through gRPC, with no broker.
class grpc_pooled : public grpc_plumbing {
 protected:
  std::string targets_yaml() override {
    return "  cache: {url: 'stub://user:hunter2@127.0.0.1:6379/0'}\n";
  }

  static v1::SendRequest command(std::vector<std::string> args, const std::string& lease = "") {
    v1::SendRequest request;
    request.set_target("cache");
    request.set_lease(lease);
    for (auto& a : args) request.mutable_command()->add_args(std::move(a));
    return request;
  }

  testing_support::fake_world& world_ = testing_support::stub_world();
};

TEST_F(grpc_pooled, send_goes_through_the_pool) {
  v1::SendResponse response;
  auto status = stub_->Send(context().get(), command({"GET", "k"}), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.reply().text(), "GET k");
  status = stub_->Send(context().get(), command({"FAIL"}), &response);
  EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(status.error_message(), "echo: refused");
  status = stub_->Send(context().get(), command({"BLOCK"}), &response);
  EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(world_.opened, 1);
}

// The server's end of the one client connection: this process's socket
// bound to the server's port with a peer (not the listener); -1 if none.
int accepted_socket(int port) {
  int found = -1;
  DIR* fds = opendir("/proc/self/fd");
  if (fds == nullptr) return -1;
  while (const dirent* entry = readdir(fds)) {
    const int fd = std::atoi(entry->d_name);
    if (fd <= 2 || fd == dirfd(fds)) continue;
    sockaddr_storage local{};
    sockaddr_storage peer{};
    socklen_t local_size = sizeof local;
    socklen_t peer_size = sizeof peer;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_size) != 0) continue;
    // gRPC's sockets may be IPv6 ones holding IPv4-mapped addresses.
    int local_port = -1;
    if (local.ss_family == AF_INET) {
      local_port = ntohs(reinterpret_cast<const sockaddr_in&>(local).sin_port);
    } else if (local.ss_family == AF_INET6) {
      local_port = ntohs(reinterpret_cast<const sockaddr_in6&>(local).sin6_port);
    }
    if (local_port != port) continue;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_size) != 0) continue;
    found = fd;
  }
  closedir(fds);
  return found;
}

TEST_F(grpc_pooled, responses_finished_in_one_handler_leave_together) {
  if (!held_writes::available()) GTEST_SKIP() << "libgrpc is not a shared object in this build";
  v1::SendResponse warm;
  ASSERT_TRUE(stub_->Send(context().get(), command({"GET", "warm"}), &warm).ok());
  const int fd = accepted_socket(server_->port());
  ASSERT_GE(fd, 0);
  testing_support::tcp_info_4_6 info;
  if (!testing_support::read_tcp_info(fd, info)) GTEST_SKIP() << "the kernel is older than 4.6";
  const auto before = info.data_segs_out;

  // 128 Sends started from one handler of the server's thread, so they leave
  // this client together (gRPC's writes there are held too) and reach the
  // server in one read; the stub answers each at once, so all 128 responses
  // are finished in one handler. gRPC alone writes each with a sendmsg and
  // a segment of its own.
  constexpr int count = 128;
  struct call {
    grpc::ClientContext context;
    v1::SendResponse response;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<v1::SendResponse>> reader;
  };
  std::vector<call> calls(count);
  grpc::CompletionQueue queue;
  std::promise<void> started;
  boost::asio::post(io_, [&] {
    for (int i = 0; i < count; ++i) {
      auto& c = calls[i];
      c.context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      c.reader = stub_->AsyncSend(&c.context, command({"GET", std::to_string(i)}), &queue);
      c.reader->Finish(&c.response, &c.status, &c);
    }
    started.set_value();
  });
  started.get_future().wait();
  // Every call ends (by its deadline at worst) before the queue goes.
  for (int i = 0; i < count; ++i) {
    void* tag = nullptr;
    bool ok = false;
    EXPECT_TRUE(queue.Next(&tag, &ok));
    EXPECT_TRUE(ok);
  }
  for (int i = 0; i < count; ++i) {
    EXPECT_TRUE(calls[i].status.ok()) << calls[i].status.error_message();
    EXPECT_EQ(calls[i].response.reply().text(), "GET " + std::to_string(i));
  }
  ASSERT_TRUE(testing_support::read_tcp_info(fd, info));
  const auto segments = info.data_segs_out - before;
  // One in the ideal; a few if the requests came in more than one read (a
  // thread waiting in queue.Next() above may poll gRPC's sockets too).
  EXPECT_GE(segments, 1u);
  EXPECT_LE(segments, 32u) << "responses per segment: " << count / std::max(segments, 1u);
  queue.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (queue.Next(&tag, &ok)) {
  }
}

TEST_F(grpc_pooled, send_on_a_lease) {
  v1::AcquireRequest acquire;
  acquire.set_target("cache");
  v1::AcquireResponse acquired;
  ASSERT_TRUE(stub_->Acquire(context().get(), acquire, &acquired).ok());
  v1::SendResponse response;
  auto status = stub_->Send(context().get(), command({"BLOCK", "1"}, acquired.lease()), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.reply().text(), "BLOCK 1");
  status = stub_->Send(context().get(), command({"GET"}, "cache/l-nope"), &response);
  EXPECT_EQ(status.error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "unknown lease 'cache/l-nope'");
  status = stub_->Send(context().get(), command({"GET"}, "nope"), &response);
  EXPECT_EQ(status.error_code(), StatusCode::NOT_FOUND) << status.error_message();
}

TEST_F(grpc_pooled, send_stream_runs_thousands_of_operations_with_bounded_in_flight) {
  // ~0.5 s in Release, ~4 s under ASan on an idle machine: room for a busy one.
  auto ctx = context();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto stream = stub_->SendStream(ctx.get());
  constexpr int count = 3000;  // more than max_in_flight: reading pauses and resumes
  std::thread writer([&] {
    for (int i = 0; i < count; ++i) {
      v1::SendStreamRequest request;
      request.set_id(static_cast<std::uint64_t>(i));
      *request.mutable_send() = command({i % 100 == 7 ? "FAIL" : "SET", std::to_string(i)});
      if (!stream->Write(request)) break;
    }
    stream->WritesDone();
  });
  std::set<std::uint64_t> seen;
  int failed = 0;
  v1::SendStreamResponse response;
  while (stream->Read(&response)) {
    seen.insert(response.id());
    if (response.status().code() != 0) {
      ++failed;
      EXPECT_EQ(response.status().message(), "echo: refused");
    } else {
      EXPECT_EQ(response.result().reply().text(), "SET " + std::to_string(response.id()));
    }
  }
  writer.join();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(count));
  EXPECT_EQ(failed, count / 100);
}

TEST_F(grpc_pooled, target_turns_serving_once_reached) {
  // The pool opens min_idle (1) connection at start; reaching it makes the target SERVING.
  v1::AcquireRequest acquire;
  acquire.set_target("cache");
  v1::AcquireResponse acquired;
  ASSERT_TRUE(stub_->Acquire(context().get(), acquire, &acquired).ok());
  EXPECT_EQ(health("cache", StatusCode::OK), HealthCheckResponse::SERVING);
  EXPECT_EQ(health("events", StatusCode::OK), HealthCheckResponse::NOT_SERVING);
}

TEST_F(grpc_pooled, acquire_renew_release) {
  v1::AcquireRequest acquire;
  acquire.set_target("cache");
  acquire.mutable_ttl()->set_seconds(20);
  v1::AcquireResponse acquired;
  auto status = stub_->Acquire(context().get(), acquire, &acquired);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(acquired.lease().rfind("cache/l-", 0), 0u) << acquired.lease();
  EXPECT_EQ(acquired.ttl().seconds(), 20);

  v1::StatsRequest stats_request;
  stats_request.set_target("cache");
  v1::StatsResponse stats;
  ASSERT_TRUE(stub_->Stats(context().get(), stats_request, &stats).ok());
  ASSERT_EQ(stats.targets_size(), 1);
  const auto& cache = stats.targets(0);
  EXPECT_TRUE(cache.healthy());
  EXPECT_EQ(cache.pool().leased(), 1u);
  EXPECT_EQ(cache.counters().connects(), 1u);
  EXPECT_EQ(cache.counters().leases_acquired(), 1u);
  ASSERT_EQ(cache.leases_size(), 1);
  EXPECT_EQ(cache.leases(0).lease(), acquired.lease());
  EXPECT_EQ(cache.leases(0).holder().rfind("ipv4:127.0.0.1:", 0), 0u) << cache.leases(0).holder();
  ASSERT_EQ(cache.connections_size(), 1);
  EXPECT_EQ(cache.connections(0).state(), "leased");
  EXPECT_EQ(cache.connections(0).url(), "stub://user:***@127.0.0.1:6379/0");
  EXPECT_EQ(cache.leases(0).connection_id(), cache.connections(0).id());

  v1::RenewRequest renew;
  renew.set_lease(acquired.lease());
  v1::RenewResponse renewed;
  ASSERT_TRUE(stub_->Renew(context().get(), renew, &renewed).ok());
  EXPECT_EQ(renewed.ttl().seconds(), 20);
  renew.mutable_ttl()->set_seconds(3600);  // above max_ttl (5 min)
  EXPECT_EQ(stub_->Renew(context().get(), renew, &renewed).error_code(),
            StatusCode::INVALID_ARGUMENT);

  v1::ReleaseRequest release;
  release.set_lease(acquired.lease());
  release.set_discard(true);
  v1::ReleaseResponse released;
  ASSERT_TRUE(stub_->Release(context().get(), release, &released).ok());
  status = stub_->Release(context().get(), release, &released);
  EXPECT_EQ(status.error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "unknown lease '" + acquired.lease() + "'");
  EXPECT_EQ(world_.closed, 1);  // discarded, not returned

  stats.Clear();
  ASSERT_TRUE(stub_->Stats(context().get(), stats_request, &stats).ok());
  EXPECT_EQ(stats.targets(0).pool().leased(), 0u);
  EXPECT_EQ(stats.targets(0).leases_size(), 0);
}

TEST_F(grpc_pooled, acquire_with_a_ttl_above_the_maximum_is_invalid) {
  v1::AcquireRequest acquire;
  acquire.set_target("cache");
  acquire.mutable_ttl()->set_seconds(301);
  v1::AcquireResponse acquired;
  const auto status = stub_->Acquire(context().get(), acquire, &acquired);
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("max_ttl (300000 ms)"), std::string::npos);
}

class grpc_unreachable : public grpc_pooled {
 protected:
  std::string targets_yaml() override {
    return "  cache: {url: 'stub://127.0.0.1:6379', refuse_connects: true}\n";
  }
};

TEST_F(grpc_unreachable, unreachable_broker_is_unavailable_within_the_deadline) {
  v1::AcquireRequest acquire;
  acquire.set_target("cache");
  v1::AcquireResponse acquired;
  const auto status = stub_->Acquire(context().get(), acquire, &acquired);
  EXPECT_EQ(status.error_code(), StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(health("cache", StatusCode::OK), HealthCheckResponse::NOT_SERVING);
}

TEST(grpc_server_startup, port_in_use_is_one_line_naming_the_setting) {
  metrics m;
  boost::asio::io_context io;
  auto first_config = load_config("listen: {grpc: '127.0.0.1:0', admin: ''}", {});
  target_set no_targets(io.get_executor(), first_config);
  grpc_server first(io, first_config, m, no_targets);
  first.start();
  const auto second_config = load_config(
      "listen: {grpc: '127.0.0.1:" + std::to_string(first.port()) + "', admin: ''}", {});
  grpc_server second(io, second_config, m, no_targets);
  try {
    second.start();
    FAIL() << "a second server bound the same port";
  } catch (const startup_error& e) {
    EXPECT_EQ(std::string(e.what()), "listen.grpc: cannot listen on 127.0.0.1:" +
                                         std::to_string(first.port()) + ": Address already in use");
  }
  first.shutdown(std::chrono::milliseconds(0));
}

}  // namespace
}  // namespace brokerside::sidecar
