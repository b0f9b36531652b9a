// Accepts the channels peers open to a framed listen address (aiomas
// open_connection) and runs each as a framed::connection, handed to the
// owner to attach its handlers before it reads. Accept errors are retried
// (a client that reset first at once, anything else after 100 ms), clients
// beyond max_clients are closed at once, and stop() closes the rest
// gracefully. It does not log: what is worth saying comes as events.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <system_error>
#include <vector>

#include "protocol/framed/connection.h"
#include "protocol/io_strand.h"
#include "protocol/stream.h"

namespace brokerside::protocol::framed {

class acceptor : public std::enable_shared_from_this<acceptor> {
 public:
  // Clients at once, at most; one more is closed at once.
  static constexpr std::size_t max_clients = 1024;
  // How long after an accept error the next accept is tried.
  static constexpr std::chrono::milliseconds retry_after{100};
  // The least time between two accept_failed events.
  static constexpr std::chrono::seconds failure_report_interval{1};

  // What the owner hears; each may be empty. Admitted runs on the channel's
  // own executor (a strand of its own), the others on the acceptor's strand.
  struct events {
    // A new channel, not yet reading: set its handlers (on_request,
    // on_lost); it starts once this returns and keeps itself alive while it
    // reads.
    std::function<void(const std::shared_ptr<connection>&)> admitted;
    // A client beyond max_clients was closed; `connected` are there already.
    std::function<void(std::size_t connected)> refused;
    // Accepting failed (out of descriptors, say); at most once per
    // failure_report_interval, however often it fails.
    std::function<void(std::error_code)> accept_failed;
  };

  // Channels read with `options` (its `to` and `timeout` are not used).
  static std::shared_ptr<acceptor> create(boost::asio::any_io_executor executor,
                                          connect_options options, events ev);

  // Binds `at` (TCP or a Unix socket path; no TLS) and listens. Call once,
  // before start(), from any thread.
  std::error_code listen(const endpoint& at);

  // The TCP port bound (after listen on port 0, the one chosen); 0 for Unix.
  std::uint16_t port() const { return listener_.port(); }

  // Starts accepting, until stop().
  void start();

  // Stops accepting; each client's channel closes once what is queued on it
  // is written, or after `flush_limit`. Completion: done(), on the
  // acceptor's strand, once no new channel will be admitted (the channels
  // may still be closing). The acceptor lives until then.
  void stop(std::chrono::milliseconds flush_limit, std::function<void()> done);

 private:
  acceptor(boost::asio::any_io_executor executor, connect_options options, events ev);

  // On strand_.
  void accept_next();
  void accept_failed(std::error_code ec);
  void admit(const std::shared_ptr<connection>& conn);

  boost::asio::any_io_executor executor_;             // each channel gets a strand of it
  io_strand strand_;                                  // the accept loop's
  protocol::listener listener_;                       // the bound socket
  boost::asio::steady_timer retry_;                   // the next accept after an error
  connect_options options_;                           // what the channels read with
  events events_;                                     // the owner's part
  std::vector<std::weak_ptr<connection>> clients_;    // admitted, maybe gone since
  std::chrono::steady_clock::time_point reported_{};  // the last accept_failed event
  bool closed_ = false;                               // stop() was called
};

}  // namespace brokerside::protocol::framed
