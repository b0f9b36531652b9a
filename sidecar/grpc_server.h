// The gRPC side of the sidecar: the Broker service, health (overall and per
// target), reflection, keepalive and message limits, on TCP and optionally a
// Unix socket; and the drain on shutdown.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sidecar/caller_table.h"
#include "sidecar/config.h"
#include "sidecar/metrics.h"
#include "sidecar/startup_error.h"
#include "sidecar/unix_peers.h"

namespace brokerside::v1 {
class SubscriptionStats;
}

namespace grpc {
class Server;
class ServerCompletionQueue;
}  // namespace grpc

namespace boost::asio {
class io_context;
}

namespace brokerside::sidecar {

class broker_service;
class target_set;
class health_service;
class unix_listener;
class server_tls_files;
class memory_guard;
class grpc_loop;
class service_bindings;

class grpc_server {
 public:
  // `io`, `cfg`, `m`, `targets` and `memory` (null: no guard) must outlive
  // the server. Every call is served on `io`'s threads (grpc_loop.h).
  grpc_server(boost::asio::io_context& io, const config& cfg, metrics& m, const target_set& targets,
              const memory_guard* memory = nullptr);
  ~grpc_server();

  // Binds every listener and starts serving; throws startup_error.
  void start();

  // Runs `io` on the calling thread as one of the server's threads, until it
  // stops or runs out of work (grpc_loop::run). Every thread of `io` runs this.
  void run();

  // The TCP port bound (useful when listen.grpc asked for port 0); 0 if none.
  int port() const { return port_; }

  // Whether start() succeeded and shutdown() has not begun.
  bool serving() const { return serving_.load(); }

  // Marks the target's health service SERVING or NOT_SERVING.
  void set_target_health(const std::string& target, bool serving);

  // Whether the target's health is SERVING (false if unknown).
  bool target_healthy(const std::string& target) const;

  // Every open Recv stream as Stats shows it, with its target's name.
  std::vector<std::pair<std::string, v1::SubscriptionStats>> subscriptions() const;
  // Every caller identity's figures (sidecar/caller_table.h).
  std::vector<caller_snapshot> callers() const;
  // Per-client counts and refusals (server.per_client).
  const client_table& clients() const;

  // Drains: health turns NOT_SERVING, new calls get UNAVAILABLE and open
  // Recv streams end (UNAVAILABLE); after `drain_delay` the listeners close;
  // calls in flight may finish until `grace` (counted from the start) has
  // passed, then are cancelled. Blocks until every call is done and the
  // ended subscriptions have stopped (or the grace has passed).
  void shutdown(std::chrono::milliseconds grace,
                std::chrono::milliseconds drain_delay = std::chrono::milliseconds(0));

 private:
  const config& config_;                     // listeners and limits
  metrics& metrics_;                         // shared with the service
  unix_peer_table unix_peers_;               // who is on each Unix socket connection
  std::unique_ptr<broker_service> service_;  // the Broker service
  std::unique_ptr<health_service> health_;   // grpc.health.v1.Health
  std::unique_ptr<unix_listener> unix_;      // listen.unix_socket, if set
  // listen.tls's files as gRPC reads them, if set; outlives server_, whose
  // certificate provider reads them.
  std::unique_ptr<server_tls_files> tls_files_;
  std::unique_ptr<grpc_loop> loop_;                     // serves the queue from io's threads
  std::unique_ptr<service_bindings> bindings_;          // the services' methods on the queue
  std::unique_ptr<grpc::ServerCompletionQueue> queue_;  // every call's; outlives server_
  std::unique_ptr<grpc::Server> server_;                // null until start()
  int port_ = 0;                                        // bound TCP port
  std::atomic<bool> serving_{false};                    // between start() and shutdown()
};

}  // namespace brokerside::sidecar
