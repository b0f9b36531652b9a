// The gRPC Unix socket (listen.unix_socket), accepted by brokerside rather
// than gRPC: each connection's peer credentials go into a unix_peer_table
// before the connection is handed to the server, so that callers are named
// by their uid and gid. The socket is made owner-only, then given its mode
// and group, so no one else can connect in between.
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "sidecar/unix_peers.h"

namespace grpc {
class Server;
}

namespace brokerside::sidecar {

struct listen_settings;

class unix_listener {
 public:
  // `peers` must outlive the listener.
  explicit unix_listener(unix_peer_table& peers) : peers_(peers) {}
  ~unix_listener() { stop(); }
  unix_listener(const unix_listener&) = delete;
  unix_listener& operator=(const unix_listener&) = delete;

  // Binds and listens on listen.unix_socket with its mode and group (a stale
  // socket file from an earlier run is replaced, a live one is not); throws
  // startup_error naming the setting.
  void bind(const listen_settings& listen);
  // Accepts on a thread of its own, handing each connection to `server`,
  // which must outlive stop().
  void start(grpc::Server& server);
  // Stops accepting and removes the socket file; connections already
  // handed over stay the server's. Idempotent.
  void stop();

 private:
  void accept_loop(grpc::Server& server);

  unix_peer_table& peers_;  // where each connection's credentials go
  std::string path_;        // the socket file; empty until bound
  int fd_ = -1;             // the listening socket
  std::atomic<bool> stopping_{false};
  std::thread thread_;  // the accept loop
};

}  // namespace brokerside::sidecar
