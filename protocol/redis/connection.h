// One connection to one Redis server (TCP or Unix socket, plain or TLS):
// the handshake (redis::handshake), then commands pipelined on it:
// concurrent commands are coalesced into one write and matched to replies
// in order (FIFO). abort() fails every pending command. The protocol is
// redis::session; protocol::driver does the I/O.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "protocol/driver.h"
#include "protocol/redis/resp.h"
#include "protocol/redis/session.h"
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
  using reply_handler = session::reply_handler;
  using done_handler = std::function<void(std::error_code, std::string error_text)>;

  static std::shared_ptr<connection> create(boost::asio::any_io_executor executor);
  // Over another transport (an in-memory one in tests).
  static std::shared_ptr<connection> create(boost::asio::any_io_executor executor,
                                            std::unique_ptr<transport> io);

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
  int protocol() const noexcept { return session_.protocol(); }
  bool subscriber() const noexcept { return session_.subscriber(); }

  // Commands awaiting replies; bytes not yet written.
  std::size_t pending() const noexcept { return session_.pending(); }
  std::size_t unwritten() const noexcept { return driver_.unwritten(); }

 private:
  connection(boost::asio::any_io_executor executor, std::unique_ptr<transport> io);

  session session_;  // the protocol: handshake, FIFO of replies, pushes
  driver driver_;    // the I/O: transport, deadline, writes, reads, water marks
};

}  // namespace brokerside::protocol::redis
