// What a protocol gives the connection driver (protocol/driver.h): a sans-io
// session that turns input bytes into events and appends its output to the
// driver's buffer. It never sees a socket, a timer or an executor, so each
// protocol's behaviour is unit-tested by calling these with bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace brokerside::protocol {

// The driver's output buffer as a session appends to it. Offsets count every
// byte the connection ever queued, so a session can tell later whether what
// it queued for an operation was handed to the transport: an operation
// whose bytes end at or before `handed_over` may have reached the peer.
// (A reference to the driver's offset, not a copy: a handler called while a
// session holds an `output` may start a write, which moves the base.)
struct output {
  std::string& bytes;         // appended to; the driver writes it out in one write
  const std::uint64_t& base;  // offset of bytes[0]
  std::uint64_t end() const noexcept { return base + bytes.size(); }
};

class session {
 public:
  virtual ~session() = default;

  // The transport is open (connected, or accepted): append what goes first
  // (a protocol header, a HELLO). The connect deadline runs on.
  virtual void on_open(output& out) { (void)out; }

  // Decodes one unit (frame, reply) from the front of `in` and acts on it,
  // perhaps appending to `out`. Returns the bytes used; 0 while the unit is
  // incomplete (then `in` is offered again, grown, after the next read).
  // Sets `ec` (returning 0) when the input cannot be taken: the connection
  // is aborted with it.
  virtual std::size_t consume(std::string_view in, output& out, std::error_code& ec) = 0;

  // How many bytes the incomplete unit at the front of `in` needs in all,
  // when its header says so (0: unknown), so the next read has room for it.
  virtual std::size_t wanted(std::string_view in) const noexcept {
    (void)in;
    return 0;
  }

  // Bytes arrived (before they are consumed); for liveness clocks.
  virtual void on_read(std::size_t n) noexcept { (void)n; }

  // A write ended: everything before `handed_over` went to the transport
  // (or failed on the way, so it may have reached the peer).
  virtual void on_written(std::uint64_t handed_over) noexcept { (void)handed_over; }

  // The transport failed or the peer closed: the error to abort with. A
  // handshake may translate it (a broker that drops the socket after the
  // login refused it).
  virtual std::error_code on_transport_error(std::error_code ec) { return ec; }

  // The connection is aborting: the last bytes to write before the transport
  // closes (AMQP's close-ok to the broker's connection.close), if any. They
  // get the driver's linger time to go out.
  virtual void farewell(output& out) { (void)out; }

  // The connection is going away: fail everything pending with `ec`, once.
  // Bytes before `handed_over` may have reached the peer: an operation
  // among them counts as written (its outcome is unknown).
  virtual void on_abort(std::error_code ec, std::uint64_t handed_over) = 0;
};

}  // namespace brokerside::protocol
