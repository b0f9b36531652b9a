// One AMQP 0-9-1 connection to one broker (RabbitMQ), over protocol::stream
// (TCP, Unix socket, TLS): the handshake (protocol header, start/start-ok
// with PLAIN, tune/tune-ok, open with the vhost), heartbeats both ways,
// channels multiplexed on it, synchronous methods per channel, publishes
// with publisher confirms, consumers, and connection.blocked / unblocked.
// Every handler runs on the executor given to create(); none is called from
// inside the call that registered it. The protocol is amqp::session;
// protocol::driver does the I/O.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include "protocol/amqp/connection_types.h"
#include "protocol/amqp/content.h"
#include "protocol/amqp/methods.h"
#include "protocol/stream.h"
#include "protocol/transport.h"

namespace brokerside::protocol::amqp {

class connection : public std::enable_shared_from_this<connection> {
 public:
  using channel_id = amqp::channel_id;
  // `reply` is the broker's words when it refused (auth, vhost, a channel or
  // connection exception); empty for transport errors.
  using done_handler = amqp::done_handler;
  using channel_handler = amqp::channel_handler;
  using method_handler = amqp::method_handler;
  using publish_handler = amqp::publish_handler;

  static std::shared_ptr<connection> create(boost::asio::any_io_executor executor);
  // Over another transport (an in-memory one in tests).
  static std::shared_ptr<connection> create(boost::asio::any_io_executor executor,
                                            std::unique_ptr<transport> io);
  ~connection();

  // Connects and shakes hands. Completion: done(error, broker's reply), once.
  // A refused login is errc::handshake_failed with the broker's text (403
  // ACCESS_REFUSED ...) when it says one, or with "login refused" when it
  // just closes the socket; a wrong vhost likewise (530 NOT_ALLOWED).
  // Cancellation: close(), which completes done with errc::aborted.
  void connect(connect_options options, done_handler done);

  // Closes at once (no connection.close handshake): everything pending
  // fails with errc::aborted; on_lost is not called.
  void close();

  // Called once if the connection breaks after connect() succeeded: a
  // transport error, missed heartbeats (errc::heartbeat_timeout), a protocol
  // error, or connection.close from the broker (errc::broker_closed, with its
  // code and text). Everything pending has failed with the same error first.
  void on_lost(std::function<void(std::error_code, broker_reply)> lost);

  // connection.blocked (true, with the broker's reason) and unblocked
  // (false): RabbitMQ's resource alarms. Publishes still go out while
  // blocked; holding back is the caller's part.
  void on_blocked(std::function<void(bool blocked, std::string reason)> blocked);
  bool blocked() const noexcept;

  // The negotiated values, after connect.
  std::uint32_t frame_max() const noexcept;
  std::uint16_t channel_max() const noexcept;
  std::chrono::seconds heartbeat() const noexcept;

  // Opens a channel (channel.open, then confirm.select when `confirms`).
  // Completion: done(error, its id, broker's reply). Ids are reused after a
  // channel closes.
  void open_channel(bool confirms, channel_handler done);

  // Closes a channel (channel.close, then channel.close-ok from the broker).
  // Its pending operations fail with errc::aborted at once; its consumers
  // end. Completion: done(error), when the broker has confirmed.
  void close_channel(channel_id channel, done_handler done);

  // Called when the broker closes a channel (channel.close: a channel
  // exception, e.g. 404 on a passive declare). The connection answers
  // close-ok; the channel's pending operations have failed first with
  // errc::channel_closed and this reply. The id may be reused afterwards.
  void on_channel_closed(std::function<void(channel_id, broker_reply)> closed);

  // Sends a synchronous method (declare, bind, unbind, delete, purge, qos,
  // consume, cancel, ...) and completes with the broker's -ok reply. Methods
  // on one channel are answered in order, so several may be pending on it.
  // A channel exception fails it with errc::channel_closed and the broker's
  // reply. `request` must not have no_wait set.
  void call(channel_id channel, method request, method_handler done);

  // Publishes on `channel` (opened with confirms): method, header and body
  // frames cut to frame_max, written together. Completion, once:
  // - success (ec clear): the broker acked it;
  // - errc::publish_nacked: the broker nacked it (it may not be queued);
  // - errc::publish_returned: mandatory and unroutable (basic.return), with
  //   the broker's code (312 NO_ROUTE) and text; the ack that follows is
  //   absorbed;
  // - errc::channel_closed / a connection error: `written` says whether
  //   the frames had reached the socket (the outcome is then unknown).
  // Returns are matched to the oldest unconfirmed mandatory publish with the
  // same exchange and routing key (returns carry no sequence number; they
  // arrive in publish order).
  void publish(channel_id channel, const basic_publish& method, const basic_properties& properties,
               std::string_view body, publish_handler done);

  // Starts a consumer on `channel` (basic.consume). `deliver` gets each
  // message (method, header and body reassembled); `cancelled` is called
  // once if the broker cancels it (basic.cancel: the queue was deleted) or
  // the channel or connection closes, with the reason. Completion: done with
  // basic_consume_ok (the consumer tag) or the error.
  void consume(channel_id channel, basic_consume request, std::function<void(delivery)> deliver,
               std::function<void(std::error_code, broker_reply)> cancelled, method_handler done);

  // Acknowledgements of deliveries on `channel` (no reply from the broker).
  // After the channel closed they are dropped: the broker redelivers.
  void ack(channel_id channel, std::uint64_t delivery_tag, bool multiple);
  void nack(channel_id channel, std::uint64_t delivery_tag, bool multiple, bool requeue);
  void reject(channel_id channel, std::uint64_t delivery_tag, bool requeue);

  // Bytes encoded and not yet written, for flow control (water marks).
  std::size_t unwritten() const noexcept;

 private:
  connection(boost::asio::any_io_executor executor, std::unique_ptr<transport> io);
  struct state;  // the session (channels, handshake, heartbeats), the driver, the heartbeat timer
  std::unique_ptr<state> state_;
};

}  // namespace brokerside::protocol::amqp
