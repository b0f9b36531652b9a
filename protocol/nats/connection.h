// One connection to one NATS server (TCP, TLS after INFO): the handshake,
// then publishes (each confirmed by a flush) and requests (replies on the
// connection's one inbox subscription) pipelined on it. The protocol is
// nats::session; protocol::driver does the I/O.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "protocol/driver.h"
#include "protocol/nats/session.h"
#include "protocol/stream.h"

namespace brokerside::protocol::nats {

struct connect_options {
  endpoint to;  // TCP or Unix socket; TLS settings here start TLS after INFO
  handshake_options handshake;
  std::chrono::milliseconds timeout{5000};  // connect + handshake
  decoder_limits limits;
  std::size_t write_high_water = 0;  // unwritten bytes that pause; 0: never
  std::size_t write_low_water = 0;   // ... and that resume
};

class connection : public std::enable_shared_from_this<connection> {
 public:
  using done_handler = std::function<void(std::error_code, std::string error_text)>;
  using confirm_handler = session::confirm_handler;
  using reply_handler = session::reply_handler;

  static std::shared_ptr<connection> create(boost::asio::any_io_executor executor);
  // Over another transport (an in-memory one in tests).
  static std::shared_ptr<connection> create(boost::asio::any_io_executor executor,
                                            std::unique_ptr<transport> io);

  // Connects and shakes hands. Completion: done(error, the server's -ERR
  // text on a refused handshake), once, on the executor. Cancellation: close().
  void connect(connect_options options, done_handler done);

  // session::publish / request / ping on this connection; the completion
  // comes once, on the executor (also for what fails at once). Headers and
  // payload are encoded before this returns.
  void publish(std::string_view subject, std::string_view headers, std::string_view payload,
               confirm_handler done);
  // `token` for forget(), when the requester gives up.
  void request(std::string_view subject, std::string_view headers, std::string_view payload,
               reply_handler done, std::uint64_t& token);
  // session::send: errc::aborted when the connection is not ready.
  std::error_code send(std::string_view subject, std::string_view reply, std::string_view payload);
  void forget(std::uint64_t token) { session_.forget(token); }
  void ping(confirm_handler done);

  // Subscribes to each of `subjects` in queue group `queue` (empty: none),
  // then pings: `done` once the server has them all (or the connection
  // failed). Messages come to `message`, a refusal's text to `refused`, on
  // the executor, until their sids are unsubscribed (other subscriptions on
  // the connection have their own). Returns the sids, in the order of
  // `subjects` (none when the connection is not ready).
  std::vector<std::uint64_t> subscribe(const std::vector<std::string>& subjects,
                                       const std::string& queue, std::function<void(msg)> message,
                                       std::function<void(const std::string&)> refused,
                                       confirm_handler done);
  // UNSUB: no more of the subscription's messages (none are sent if the
  // connection is not ready).
  void unsubscribe(std::uint64_t sid);

  // Closes now: what is pending fails with errc::aborted.
  void close() { driver_.close(); }
  void on_lost(std::function<void(std::error_code)> lost) { driver_.on_lost(std::move(lost)); }
  // session::on_lame_duck, on the executor.
  void on_lame_duck(std::function<void()> lame_duck) {
    session_.on_lame_duck(std::move(lame_duck));
  }
  void on_write_paused(std::function<void(bool)> paused) {
    driver_.on_write_paused(std::move(paused));
  }

  const server_info& info() const noexcept { return session_.info(); }
  const std::string& last_error() const noexcept { return session_.last_error(); }
  std::size_t pending() const noexcept { return session_.pending(); }

 private:
  connection(boost::asio::any_io_executor executor, std::unique_ptr<transport> io);
  // Fails `done` on the executor, never from inside the call.
  void fail_soon(std::function<void()> fail);

  session session_;                         // the protocol
  driver driver_;                           // the I/O
  std::shared_ptr<const tls_context> tls_;  // for the upgrade after INFO
  std::string tls_name_;
};

// A name no other connection uses, for an inbox prefix: "_INBOX.<22 chars>.".
std::string new_inbox();

}  // namespace brokerside::protocol::nats
