// One aiomas-style channel over protocol::stream (TCP, Unix socket, TLS):
// length-prefixed frames in one codec, requests from this side matched to
// their replies by id (any order; many at once), requests from the peer
// handed up and answered by id. No handshake: connected is ready.
// Every handler runs on the executor given to create(), never from inside
// the call that registered it. The protocol is framed::session;
// protocol::driver does the I/O.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "protocol/driver.h"
#include "protocol/framed/frame.h"
#include "protocol/framed/session.h"
#include "protocol/stream.h"

namespace brokerside::protocol::framed {

struct connect_options {
  endpoint to;
  framed::codec codec = codec::json;        // aiomas's default
  std::chrono::milliseconds timeout{5000};  // socket + TLS
  std::uint32_t max_frame = 64 << 20;       // a larger incoming frame closes the connection
  framed::limits limits;                    // depth and size of decoded content
};

class connection : public std::enable_shared_from_this<connection> {
 public:
  // The outcome of a request: a transport or protocol error (with `written`:
  // whether it had reached the socket), or the peer's answer — a result, or
  // an exception whose content is its text.
  using reply_handler = session::reply_handler;

  static std::shared_ptr<connection> create(boost::asio::any_io_executor executor);
  // Over another transport (an in-memory one in tests; transport() is then
  // not to be used).
  static std::shared_ptr<connection> create(boost::asio::any_io_executor executor,
                                            std::unique_ptr<protocol::transport> io);

  // Connects. Completion: done(error), once. Cancellation: close().
  void connect(connect_options options, std::function<void(std::error_code)> done);

  // For a peer that connected to us: `transport()` is what a listener
  // accepts into; once it has, start() runs the channel on it (options.to
  // and options.timeout are not used).
  stream& transport() noexcept { return static_cast<stream&>(driver_.io()); }
  void start(connect_options options);

  const boost::asio::any_io_executor& executor() const noexcept { return driver_.executor(); }

  // Sends a request; its answer comes to `handler` once, and `id` is set
  // for abandon(). Content the codec cannot carry (JSON has no bytes) is
  // refused at once with the codec's error, the handler never called.
  std::error_code request(const value& content, reply_handler handler, std::int64_t& id);

  // The caller gave up on request `id`: its answer, when it comes, is
  // dropped (an answer for an id never sent is a protocol error).
  void abandon(std::int64_t id);

  // Requests the peer sends; answer each with reply().
  void on_request(std::function<void(std::int64_t id, value content)> request);

  // Answers the peer's request `id` with a result or an exception (whose
  // content should be its text). Dropped if the connection is gone.
  void reply(std::int64_t id, message_type answer, const value& content);

  // Closes now: pending requests fail with errc::aborted; on_lost is not called.
  void close();

  // Closes once what is queued (answers to the peer's requests above all)
  // is written, or after `limit`, whichever is first; new requests are
  // refused meanwhile. The connection keeps itself alive until then.
  void close_when_written(std::chrono::milliseconds limit);

  // Called once if the connection breaks after connect: the peer closed it
  // (errc::connection_closed), a transport error, or a protocol error
  // (malformed_frame, unsupported msg_type, frame_too_large, an answer to an
  // unknown id). Pending requests have failed with it first.
  void on_lost(std::function<void(std::error_code)> lost);

  // Why the connection was closed for a protocol error, in words (e.g.
  // "result for unknown msg_id 7"); empty otherwise.
  const std::string& protocol_error() const noexcept { return session_.protocol_error(); }

  std::size_t in_flight() const noexcept { return session_.in_flight(); }

 private:
  connection(boost::asio::any_io_executor executor, std::unique_ptr<protocol::transport> io);

  session session_;  // the protocol: requests by id both ways
  driver driver_;    // the I/O: transport, deadline, writes, reads
};

}  // namespace brokerside::protocol::framed
