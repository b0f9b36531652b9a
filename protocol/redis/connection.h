// One connection to one Redis server (TCP or Unix socket, plain or TLS):
// connect with a timeout, the handshake (HELLO 3 with AUTH and SETNAME, falling back to
// RESP2 with AUTH and CLIENT SETNAME; then SELECT), and commands pipelined
// on it: concurrent commands are coalesced into one write and matched to
// replies in order (FIFO). abort() fails every pending command.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "protocol/redis/resp.h"
#include "protocol/stream.h"

namespace brokerside::protocol::redis {

struct connect_options {
  endpoint to;                              // TCP or Unix socket, plain or TLS
  std::string user;                         // ACL user; empty: "default"
  std::string password;                     // empty: no AUTH
  int db = 0;                               // SELECT when not 0
  std::string client_name;                  // CLIENT SETNAME when not empty
  std::chrono::milliseconds timeout{5000};  // connect + handshake
  decoder_limits limits;                    // largest reply accepted
  std::size_t write_high_water = 0;         // unwritten bytes that pause; 0: never
  std::size_t write_low_water = 0;          // ... and that resume
};

class connection : public std::enable_shared_from_this<connection> {
 public:
  // The outcome of one command: a transport error, or the reply (a Redis
  // error reply is a reply, of type error). `written` says whether the
  // command reached the socket before a transport error.
  using reply_handler = std::function<void(std::error_code, value, bool written)>;
  using done_handler = std::function<void(std::error_code, std::string error_text)>;

  static std::shared_ptr<connection> create(boost::asio::any_io_executor executor);

  // Connects and shakes hands. Completion: done(error, broker's text on a
  // refused handshake), once, on the executor. Cancellation: close().
  void connect(connect_options options, done_handler done);

  // Queues a command; the reply comes to `handler` once, on the executor.
  // `args` are encoded before this returns (the one copy of the payload on
  // its way to the socket): the caller need not keep them.
  void execute(std::span<const std::string_view> args, reply_handler handler);
  void execute(std::initializer_list<std::string_view> args, reply_handler handler) {
    execute(std::span<const std::string_view>(args.begin(), args.size()), std::move(handler));
  }

  // Writes a command that gets no reply of its own: SUBSCRIBE, PSUBSCRIBE,
  // SSUBSCRIBE and their UNs, whose confirmations and messages arrive as
  // push frames. From then on the connection is a subscriber.
  void send_without_reply(std::vector<std::string> args);

  // Receives push frames (RESP3 >, or in RESP2 the arrays a subscriber gets
  // that answer no command): pub/sub messages and confirmations.
  void on_push(std::function<void(value)> push);

  // Closes now: pending commands fail with errc::aborted.
  void close();

  // Called with true when the unwritten output passes write_high_water, with
  // false once it drains to write_low_water. Commands are still accepted
  // while paused: holding back is the caller's part.
  void on_write_paused(std::function<void(bool)> paused);

  // Called once if the connection breaks after connect() succeeded.
  void on_lost(std::function<void(std::error_code)> lost);

  // 3 after a successful HELLO 3, else 2.
  int protocol() const noexcept { return protocol_; }

 private:
  explicit connection(boost::asio::any_io_executor executor);

  struct pending {
    reply_handler handler;
    bool written = false;
  };

  void handshake(done_handler done);
  void start_write();
  void check_water_marks();
  void start_read();
  void abort(std::error_code ec);

  boost::asio::any_io_executor executor_;    // every handler runs here
  stream stream_;                            // TCP or Unix, plain or TLS
  boost::asio::steady_timer connect_timer_;  // connect + handshake deadline
  connect_options options_;
  std::deque<pending> pending_;    // awaiting replies, oldest first
  std::size_t unwritten_ = 0;      // the last ones in pending_ not yet written
  std::string outbox_;             // encoded, not yet written
  std::string writing_;            // being written
  std::size_t writing_count_ = 0;  // commands in writing_
  std::string inbox_;              // read, not yet decoded
  std::size_t inbox_used_ = 0;     // decoded prefix of inbox_
  reply_scanner scanner_;          // how far the next reply in inbox_ has arrived
  std::function<void(std::error_code)> lost_;
  std::function<void(value)> push_;   // push frames; none: dropped
  std::function<void(bool)> paused_;  // told when output passes / drains below the marks
  bool write_paused_ = false;         // output passed the high-water mark, not yet drained
  bool subscriber_ = false;           // send_without_reply() was used
  bool closed_ = false;               // close() was called: a connect in progress stops
  bool open_ = false;                 // socket connected and not aborted
  bool ready_ = false;                // handshake done
  int protocol_ = 2;
};

}  // namespace brokerside::protocol::redis
