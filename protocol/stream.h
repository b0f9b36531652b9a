// The byte stream every adapter's connection runs on: TCP (resolved, each
// address tried in turn), a Unix domain socket, or either under TLS (Boost.Asio
// ssl over OpenSSL, with certificate and host name verification). Adapters see
// read_some / write / close and never which transport is underneath.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "protocol/tls.h"

namespace brokerside::protocol {

struct endpoint {
  std::string host;  // TCP host or address; empty when unix_path is set
  std::uint16_t port = 0;
  std::string unix_path;                   // Unix domain socket
  std::shared_ptr<const tls_context> tls;  // null: plain
  std::string server_name;                 // for TLS: empty means `host`
};

class stream {
 public:
  using completion = std::function<void(std::error_code)>;
  using io_completion = std::function<void(std::error_code, std::size_t)>;

  explicit stream(boost::asio::any_io_executor executor);
  ~stream();
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  // Resolves, connects and (for TLS) shakes hands. Completion: done(error),
  // once, on the executor. Cancellation: close(), after which done gets
  // errc::aborted. No timeout of its own: the caller's connect deadline
  // covers this and its protocol handshake. The caller keeps this stream
  // alive until done runs.
  void connect(const endpoint& to, completion done);

  // One read of whatever has arrived, at most `into`'s size; the peer's close
  // is errc::connection_closed. The buffer must live until `done` runs; one
  // read at a time.
  void read_some(boost::asio::mutable_buffer into, io_completion done);

  // Writes all of `bytes` (which must live until `done` runs); one write at a time.
  void write(boost::asio::const_buffer bytes, io_completion done);

  // Closes at once; pending reads and writes complete with an error.
  void close();

  bool uses_tls() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace brokerside::protocol
