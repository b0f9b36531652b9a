#include "sidecar/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <thread>

#include "sidecar/broker_service.h"
#include "sidecar/health_service.h"
#include "sidecar/server_tls_files.h"
#include "sidecar/units.h"
#include "sidecar/unix_listener.h"

namespace brokerside::sidecar {
namespace {

namespace asio = boost::asio;

// gRPC's own bind failure is a multi-line log and a null server; binding a
// socket first gives the one-line reason ("Address already in use").
void check_tcp_bindable(const std::string& address) {
  const auto [host, port] = *parse_host_port(address);  // validated with the configuration
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  boost::system::error_code ec;
  const auto endpoints = resolver.resolve(host, port, ec);
  if (ec) throw startup_error("listen.grpc: cannot resolve '" + host + "': " + ec.message());
  for (const auto& entry : endpoints) {
    asio::ip::tcp::acceptor acceptor(io);
    acceptor.open(entry.endpoint().protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(entry.endpoint(), ec);
    if (ec) throw startup_error("listen.grpc: cannot listen on " + address + ": " + ec.message());
  }
}

}  // namespace

grpc_server::grpc_server(const config& cfg, metrics& m, const target_set& targets,
                         const memory_guard* memory)
    : config_(cfg),
      metrics_(m),
      service_(std::make_unique<broker_service>(targets, m, &unix_peers_, memory)),
      health_(std::make_unique<health_service>()),
      unix_(std::make_unique<unix_listener>(unix_peers_)) {}

grpc_server::~grpc_server() {
  unix_->stop();
  if (server_ && serving_) {
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
  }
}

void grpc_server::start() {
  grpc::EnableDefaultHealthCheckService(false);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  grpc::ServerBuilder builder;
  // Two sidecars must not silently share a port.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  const auto& server = config_.server;
  builder.SetMaxReceiveMessageSize(static_cast<int>(server.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(server.max_message_bytes));
  if (server.keepalive_time.count() > 0) {
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                               static_cast<int>(server.keepalive_time.count()));
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                               static_cast<int>(server.keepalive_timeout.count()));
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  }
  // Clients may ping as often as every 10 s without being told off.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);

  if (!config_.listen.grpc.empty()) {
    check_tcp_bindable(config_.listen.grpc);
    std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
    if (config_.listen.tls.enabled()) {
      tls_files_ = std::make_unique<server_tls_files>(config_.listen.tls);
      credentials = tls_files_->credentials();
    }
    builder.AddListeningPort(config_.listen.grpc, credentials, &port_);
  }
  // The Unix socket is ours (unix_listener): bound before gRPC starts, so
  // a bad path stops startup before anything serves.
  if (!config_.listen.unix_socket.empty()) unix_->bind(config_.listen);
  builder.RegisterService(service_.get());
  builder.RegisterService(health_.get());
  server_ = builder.BuildAndStart();
  if (!server_) {
    throw startup_error("listen: gRPC could not start on " + (config_.listen.grpc.empty()
                                                                  ? config_.listen.unix_socket
                                                                  : config_.listen.grpc));
  }
  if (!config_.listen.unix_socket.empty()) unix_->start(*server_);
  health_->set("", true);
  // A target is SERVING only once its pool has reached it (target_set tells).
  for (const auto& target : config_.targets) {
    if (!health_->known(target.name)) set_target_health(target.name, false);
  }
  serving_ = true;
}

void grpc_server::set_target_health(const std::string& target, bool serving) {
  health_->set(target, serving);
}

bool grpc_server::target_healthy(const std::string& target) const {
  return health_->serving(target);
}

std::vector<std::pair<std::string, v1::SubscriptionStats>> grpc_server::subscriptions() const {
  return service_->subscriptions();
}

std::vector<caller_snapshot> grpc_server::callers() const { return service_->callers(); }

const client_table& grpc_server::clients() const { return service_->clients(); }

void grpc_server::shutdown(std::chrono::milliseconds grace, std::chrono::milliseconds drain_delay) {
  const auto deadline = std::chrono::system_clock::now() + grace;
  if (!server_ || !serving_.exchange(false)) return;
  // Refuse new calls with UNAVAILABLE before gRPC stops accepting, so a call
  // racing the shutdown learns it may retry elsewhere.
  service_->begin_drain();
  health_->shutdown();
  std::this_thread::sleep_for(std::min(drain_delay, grace));
  unix_->stop();
  server_->Shutdown(deadline);
  server_->Wait();
  // The Recv streams ended by the drain stop their subscriptions in the
  // background; the pools must not close under them.
  if (!service_->wait_recv_stopped(deadline)) {
    spdlog::warn("Recv subscriptions still stopping at the end of the grace period");
  }
}

}  // namespace brokerside::sidecar
