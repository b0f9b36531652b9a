// One aiomas-style channel over protocol::stream (TCP, Unix socket, TLS):
// length-prefixed frames in one codec, requests from this side matched to
// their replies by id (any order; many at once), requests from the peer
// handed up and answered by id. No handshake: connected is ready.
// Every handler runs on the executor given to create(), never from inside
// the call that registered it.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "protocol/framed/frame.h"
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
  using reply_handler =
      std::function<void(std::error_code, message_type answer, value content, bool written)>;

  static std::shared_ptr<connection> create(boost::asio::any_io_executor executor);

  // Connects. Completion: done(error), once. Cancellation: close().
  void connect(connect_options options, std::function<void(std::error_code)> done);

  // For a peer that connected to us: `transport()` is what a listener
  // accepts into; once it has, start() runs the channel on it (options.to
  // and options.timeout are not used).
  stream& transport() noexcept { return stream_; }
  void start(connect_options options);

  const boost::asio::any_io_executor& executor() const noexcept { return executor_; }

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
  const std::string& protocol_error() const noexcept { return protocol_error_; }

  std::size_t in_flight() const noexcept { return pending_.size(); }

 private:
  explicit connection(boost::asio::any_io_executor executor);

  struct pending_request {
    reply_handler handler;  // empty once abandoned
    bool written = false;
  };

  void start_write();
  void start_read();
  void received(message m);
  void fail(std::error_code ec, std::string why);
  void abort(std::error_code ec);

  boost::asio::any_io_executor executor_;
  stream stream_;
  boost::asio::steady_timer connect_timer_;
  connect_options options_;
  std::unordered_map<std::int64_t, pending_request> pending_;  // our requests awaiting answers
  std::int64_t next_id_ = 0;                                   // aiomas numbers from 0 too
  std::string outbox_, writing_;                               // encoded; being written
  std::vector<std::int64_t> unwritten_, in_write_;             // request ids in outbox_ / writing_
  std::string inbox_;
  std::size_t inbox_used_ = 0;
  std::function<void(std::int64_t, value)> on_request_;
  std::function<void(std::error_code)> lost_;
  std::string protocol_error_;
  std::size_t abandoned_ = 0;  // entries in pending_ whose caller gave up
  bool open_ = false, closed_ = false;
  bool draining_ = false;  // close_when_written()
};

}  // namespace brokerside::protocol::framed
