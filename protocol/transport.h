// The byte transport a connection driver runs on, as an interface: the real
// protocol::stream (TCP, Unix, TLS) in production, an in-memory one in the
// unit tests, so connection behaviour is tested without sockets.
#pragma once

#include <boost/asio/buffer.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "protocol/endpoint.h"
#include "protocol/tls.h"

namespace brokerside::protocol {

class transport {
 public:
  using completion = std::function<void(std::error_code)>;
  using io_completion = std::function<void(std::error_code, std::size_t)>;

  virtual ~transport() = default;

  // Connects to `to` (and for TLS shakes hands). done(error), once, never
  // from inside this call; close() makes it errc::aborted.
  virtual void connect(const endpoint& to, completion done) = 0;

  // Starts TLS on the open plain connection (STARTTLS-style upgrades: NATS
  // after the server's INFO). Nothing may be read or written meanwhile.
  // done(error), once; reads and writes then go through TLS. `server_name`
  // is sent (SNI) and verified; empty: none.
  virtual void start_tls(std::shared_ptr<const tls_context> context, std::string server_name,
                         completion done) = 0;

  // One read of whatever has arrived, at most `into`'s size; the peer's
  // close is errc::connection_closed. `into` lives until done; one at a time.
  virtual void read_some(boost::asio::mutable_buffer into, io_completion done) = 0;

  // Writes all of `bytes` (which live until done); one write at a time.
  virtual void write(boost::asio::const_buffer bytes, io_completion done) = 0;

  // Closes at once; pending operations complete with an error.
  virtual void close() = 0;
};

}  // namespace brokerside::protocol
