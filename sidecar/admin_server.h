// The HTTP admin listener (Boost.Beast): /healthz (the process is alive),
// /readyz (configured, listening, not draining, required targets healthy)
// and /metrics (Prometheus text format). Runs on the sidecar's io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>

namespace brokerside::sidecar {

class admin_server {
 public:
  struct handlers {
    // True if ready; otherwise sets the reason shown in the 503 body.
    std::function<bool(std::string& reason)> ready;
    // Produces the /metrics body, now or later, by calling `reply` once.
    std::function<void(std::function<void(std::string)> reply)> metrics;
  };

  admin_server(boost::asio::io_context& io, handlers h);

  // Binds `address` (host:port) and starts accepting; throws startup_error.
  void start(const std::string& address);

  // The bound port.
  int port() const;

  // Stops accepting; sessions in progress finish on their own.
  void stop();

 private:
  void accept();

  boost::asio::io_context& io_;               // runs the acceptor and sessions
  std::shared_ptr<const handlers> handlers_;  // shared with live sessions
  boost::asio::ip::tcp::acceptor acceptor_;   // the listener
};

}  // namespace brokerside::sidecar
