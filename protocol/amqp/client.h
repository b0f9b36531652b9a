// What a client runs over one amqp::connection besides the wire protocol:
// a confirm-mode channel for publishes (opened at connect, reopened after
// the broker closes it), a few idle plain channels reused for synchronous
// commands, request/reply over RabbitMQ's direct reply-to
// (amq.rabbitmq.reply-to), replies matched to requests by correlation id,
// and a check that an exchange exists before the first publish to it, so
// that one caller's missing exchange does not close the channel it shares
// with every other publish. Used on the connection's executor only; every
// completion runs there.
#pragma once

#include <boost/asio/cancellation_signal.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "protocol/amqp/connection.h"

namespace brokerside::protocol::amqp {

// What a request came to: the reply, or why there is none.
struct request_outcome {
  std::error_code ec;           // clear: `reply` is the answer
  broker_reply broker;          // the broker's words when it refused or closed a channel
  bool written = false;         // the request may have reached the broker
  bool awaiting_reply = false;  // it failed waiting for the reply (connection or reply channel
                                // gone), not in opening the channel or publishing
  delivery reply;               // with the caller's own correlation id restored
};

// A command's answer: the broker's -ok method, or the error; `written`: the
// method may have reached the broker (false when its channel did not open).
using command_handler = std::function<void(std::error_code, method, broker_reply, bool written)>;
using request_handler = std::function<void(request_outcome)>;

// Whether the broker's channel.close `reply` names `exchange`. A publish
// failing with errc::channel_closed whose reply does not was caught up in
// another publish's error on the shared confirm channel: its outcome is
// unknown, not refused.
bool names_exchange(const broker_reply& reply, std::string_view exchange);

class client : public std::enable_shared_from_this<client> {
 public:
  // Plain channels kept open for commands; more are closed after use.
  static constexpr std::size_t idle_command_channels = 4;
  // RabbitMQ's pseudo-queue for RPC replies (needs no declare).
  static constexpr std::string_view reply_queue = "amq.rabbitmq.reply-to";

  // Over `conn`, which is not connected yet.
  static std::shared_ptr<client> create(std::shared_ptr<connection> conn);

  // How long an exchange seen to exist (a passive exchange.declare on a
  // command channel) is trusted before it is checked again; a publish
  // channel closed by the broker forgets them all. Zero: never checked, a
  // publish to a missing exchange closes the shared publish channel (404)
  // and the publishes in flight with it end with channel_closed.
  void set_exchange_check_interval(std::chrono::milliseconds interval) noexcept {
    exchange_check_interval_ = interval;
  }

  connection& conn() const noexcept { return *conn_; }
  const std::shared_ptr<connection>& conn_ptr() const noexcept { return conn_; }

  // Connects, then opens the publish channel so that the first publish does
  // not wait for it. Completion: done(error, broker's reply) once, for the
  // first step that failed. Cancellation: close().
  void connect(connect_options options, done_handler done);

  // Called once when the connection breaks after connect: requests awaiting
  // replies have failed first (awaiting_reply, with the connection's error).
  void on_lost(std::function<void(std::error_code, broker_reply)> lost);
  bool lost() const noexcept { return lost_; }

  // Closes the connection at once (connection::close): what is in flight on
  // it fails with errc::aborted; on_lost is not called.
  void close();

  // The owner lets the client go: requests still awaiting replies fail with
  // errc::aborted now, then the connection closes.
  void shut_down();

  // Publishes on the confirm channel; completion as connection::publish.
  // While the channel is open and the exchange known to exist the body goes
  // straight into the connection's output (nothing is kept, so they need
  // only live during the call); otherwise method, properties and body are
  // copied until it is. An exchange the check finds missing fails the
  // publish with channel_closed and the broker's 404, written = false.
  // No cancellation: a publish runs to its confirm. See names_exchange()
  // for channel_closed.
  void publish(const basic_publish& method, const basic_properties& properties,
               std::string_view body, publish_handler done);

  // Runs a synchronous method on an idle plain channel (one is opened when
  // none is idle). Completion: done(error, -ok method, broker's reply,
  // written), once. A method once written runs to its answer: no cancel.
  void command(method request, command_handler done);

  // Publishes a request (mandatory; its exchange checked as for publish)
  // with reply_to set to direct reply-to and
  // a correlation id of ours, and completes with the reply, whose
  // correlation id is again the one in `properties` (or none). Method,
  // properties and body are copied. Completion: done(outcome), once — or
  // never when `cancel` fires first: the request is forgotten at once and
  // its late reply dropped. The client lives until the completion runs.
  void request(basic_publish method, basic_properties properties, std::string_view body,
               boost::asio::cancellation_slot cancel, request_handler done);

  // Requests awaiting their replies (or the reply channel), for tests.
  std::size_t pending_requests() const noexcept { return requests_.size(); }

 private:
  using channel_use = std::function<void(std::error_code, channel_id, broker_reply)>;
  using exchange_use = std::function<void(std::error_code, broker_reply)>;
  using steady = std::chrono::steady_clock;

  // A channel opened on demand and kept: who asked while it opened waits.
  struct channel_slot {
    channel_id id = 0;                // 0: not open
    bool opening = false;             // channel.open (and confirm.select) sent
    std::deque<channel_use> waiting;  // called once it is open, or failed
  };

  // A request awaiting its reply on the direct reply-to consumer.
  struct pending_request {
    std::optional<std::string> correlation_id;  // the caller's, restored on the reply
    request_handler done;                       // called once
    bool written = false;                       // published (its channel was open)
  };

  explicit client(std::shared_ptr<connection> conn) : conn_(std::move(conn)) {}

  void with_channel(channel_slot& slot, bool confirms, channel_use use);
  // Whether a publish to `exchange` may go out without a check first.
  bool exchange_known(const std::string& exchange) const;
  // Runs `use` once `exchange` is seen to exist (or with why not); one check
  // at a time per exchange, whoever asks meanwhile waits for it.
  void with_exchange(const std::string& exchange, exchange_use use);
  void publish_now(const basic_publish& method, const basic_properties& properties,
                   std::string_view body, publish_handler done);
  // A request whose exchange is known: out on the reply channel.
  void publish_request(basic_publish method, basic_properties properties, std::string_view body,
                       const std::string& correlation);
  void opened(channel_slot& slot, std::error_code ec, channel_id id, broker_reply reply);
  void consume_replies(channel_id id);
  void reply_arrived(delivery d);
  void fail_request(const std::string& correlation, request_outcome outcome);
  void fail_requests(std::error_code ec);
  void channel_closed(channel_id id, const broker_reply& reply);
  void command_on(channel_id id, method request, command_handler done);

  std::shared_ptr<connection> conn_;       // the wire protocol
  channel_slot publish_;                   // confirm mode: publishes
  channel_slot replies_;                   // confirm mode, consuming direct reply-to
  std::vector<channel_id> idle_commands_;  // plain, free for a command
  std::unordered_map<std::string, steady::time_point> exchanges_;        // seen to exist, until
  std::unordered_map<std::string, std::vector<exchange_use>> checking_;  // waiting, by exchange
  std::chrono::milliseconds exchange_check_interval_{30'000};            // 0: never check
  std::unordered_map<std::string, pending_request> requests_;            // by our correlation id
  std::uint64_t next_correlation_ = 0;                                   // "bs.N"
  std::function<void(std::error_code, broker_reply)> lost_cb_;           // the owner's on_lost
  bool lost_ = false;                                                    // the connection broke
};

}  // namespace brokerside::protocol::amqp
