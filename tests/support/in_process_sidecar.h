// The sidecar in the test's own process, as main() assembles it: the
// configuration, the targets with the built-in adapters on one I/O thread,
// the gRPC server on a free loopback port, and a client stub for it, plus
// the calls tests make most.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "brokerside/v1/brokerside.grpc.pb.h"
#include "sidecar/config.h"
#include "sidecar/grpc_server.h"
#include "sidecar/metrics.h"
#include "sidecar/target_set.h"

namespace brokerside::testing_support {

class in_process_sidecar {
 public:
  // `targets_yaml`: the body of the targets: mapping, one "name: {...}" per line.
  explicit in_process_sidecar(const std::string& targets_yaml)
      : config_(sidecar::load_config(
            "listen: {grpc: '127.0.0.1:0', admin: ''}\ntargets:\n" + targets_yaml, {})) {
    targets_ = std::make_unique<sidecar::target_set>(io_.get_executor(), config_);
    server_ = std::make_unique<sidecar::grpc_server>(io_, config_, metrics_, *targets_);
    server_->start();
    targets_->start([this](const std::string& t, bool h) { server_->set_target_health(t, h); });
    io_thread_ = std::thread([this] { server_->run(); });
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::Broker::NewStub(channel_);
  }

  ~in_process_sidecar() {
    server_->shutdown(std::chrono::milliseconds(100));
    targets_->stop();
    work_.reset();
    io_thread_.join();
  }

  v1::Broker::Stub& stub() { return *stub_; }
  // For other services on the same server (grpc.health.v1).
  std::shared_ptr<grpc::Channel> channel() { return channel_; }

  static std::unique_ptr<grpc::ClientContext> context(
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + timeout);
    return c;
  }

  static v1::SendRequest command(const std::string& target, std::vector<std::string> args,
                                 const std::string& lease = "") {
    v1::SendRequest r;
    r.set_target(target);
    r.set_lease(lease);
    for (auto& a : args) r.mutable_command()->add_args(std::move(a));
    return r;
  }

  // Sends; the call's status.
  grpc::Status send(const v1::SendRequest& request, v1::SendResponse& response,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    return stub_->Send(context(timeout).get(), request, &response);
  }

  // Sends and expects success; returns the reply.
  v1::Value ok(const v1::SendRequest& request) {
    v1::SendResponse response;
    const auto status = send(request, response);
    EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
    return response.reply();
  }

  std::string acquire(const std::string& target) {
    v1::AcquireRequest request;
    request.set_target(target);
    v1::AcquireResponse response;
    const auto status = stub_->Acquire(context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.lease();
  }

  void release(const std::string& lease, bool discard = false) {
    v1::ReleaseRequest request;
    request.set_lease(lease);
    request.set_discard(discard);
    v1::ReleaseResponse response;
    EXPECT_TRUE(stub_->Release(context().get(), request, &response).ok());
  }

  v1::TargetStats stats(const std::string& target) {
    v1::StatsRequest request;
    request.set_target(target);
    v1::StatsResponse response;
    EXPECT_TRUE(stub_->Stats(context().get(), request, &response).ok());
    return response.targets_size() == 1 ? response.targets(0) : v1::TargetStats{};
  }

 private:
  sidecar::config config_;
  sidecar::metrics metrics_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ =
      boost::asio::make_work_guard(io_);
  std::thread io_thread_;
  std::unique_ptr<sidecar::target_set> targets_;
  std::unique_ptr<sidecar::grpc_server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Broker::Stub> stub_;
};

}  // namespace brokerside::testing_support
