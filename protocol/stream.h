// The byte stream every adapter's connection runs on: TCP (resolved, each
// address tried in turn), a Unix domain socket, or either under TLS (Boost.Asio
// ssl over OpenSSL, with certificate and host name verification), or a plain
// connection upgraded to TLS later (start_tls). Adapters see it through
// protocol::transport and never which transport is underneath.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "protocol/endpoint.h"
#include "protocol/tls.h"
#include "protocol/transport.h"

namespace brokerside::protocol {

// Whether `host` is an IPv4 or IPv6 address rather than a name.
bool is_ip_address(const std::string& host);

// The longest Unix socket path the system takes (sockaddr_un's sun_path).
std::size_t max_unix_path() noexcept;

class stream final : public transport {
 public:
  explicit stream(boost::asio::any_io_executor executor);
  ~stream() override;
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  // Resolves, connects and (for TLS) shakes hands. Completion: done(error),
  // once, on the executor. Cancellation: close(), after which done gets
  // errc::aborted. No timeout of its own: the caller's connect deadline
  // covers this and its protocol handshake. The caller keeps this stream
  // alive until done runs.
  void connect(const endpoint& to, completion done) override;

  // Starts TLS over the open plain connection, with `context`'s trust and
  // `server_name` verified (an IP address against IP SANs) and sent as SNI.
  // Completion: done(error), once, on the executor; close() makes it
  // errc::aborted. No read or write may be in flight meanwhile.
  void start_tls(std::shared_ptr<const tls_context> context, std::string server_name,
                 completion done) override;

  // One read of whatever has arrived, at most `into`'s size; the peer's close
  // is errc::connection_closed. The buffer must live until `done` runs; one
  // read at a time.
  void read_some(boost::asio::mutable_buffer into, io_completion done) override;

  // Writes all of `bytes` (which must live until `done` runs); one write at a time.
  void write(boost::asio::const_buffer bytes, io_completion done) override;

  // Closes at once; pending reads and writes complete with an error.
  void close() override;

  bool uses_tls() const noexcept;

 private:
  friend class listener;
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Accepts plain connections on a TCP address or a Unix socket path, each
// into a stream of its own (for peers that connect to us, as aiomas clients
// do to a framed target's listen address).
class listener {
 public:
  explicit listener(boost::asio::any_io_executor executor);
  ~listener();
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;

  // Binds `at` (host and port, or unix_path; TLS is not offered) and
  // listens. A Unix socket file left by an earlier process is replaced.
  std::error_code listen(const endpoint& at);

  // The TCP port bound (useful after listening on port 0); 0 for Unix.
  std::uint16_t port() const;

  // Accepts the next connection into `into`, a stream not yet used, which
  // the caller keeps alive until `done(error)` runs, once, on the executor.
  void accept(stream& into, stream::completion done);

  // Stops listening: a pending accept completes with an error, and a Unix
  // socket file is removed. Accepted streams are not touched.
  void close();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace brokerside::protocol
