// One AMQP channel's bookkeeping, without I/O: its synchronous methods
// awaiting replies (in order), its publishes awaiting confirms, its consumers
// and the content arriving for it. The connection writes what a channel
// appends to `out` and makes the handler calls it collects once the input is
// handled, so a handler that closes the connection never pulls the channel
// from under the code that called it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "protocol/amqp/connection_types.h"
#include "protocol/lazy_deque.h"

namespace brokerside::protocol::amqp {

using deferred_calls = std::vector<std::function<void()>>;

// What a channel writes to and reports through while it handles one input.
struct channel_context {
  std::string& out;                 // frames for the socket, appended
  std::uint64_t out_base = 0;       // stream offset of out's first byte
  std::uint64_t written = 0;        // stream offset up to which bytes may have reached the broker
  std::uint32_t frame_max = 0;      // negotiated (0: no limit)
  std::uint64_t max_message_bytes;  // a longer incoming body: errc::frame_too_large
  deferred_calls& later;            // handler calls to make once the input is handled
};

// A consumer's handlers.
struct consumer {
  std::function<void(delivery)> deliver;
  std::function<void(std::error_code, broker_reply)> cancelled;
};

// A channel's records, at namespace scope so that their default member
// initializers are usable in the channel's own members (clang insists).
namespace detail {

// A synchronous method awaiting its reply.
struct pending_method {
  enum class kind { call, open, select, consume, cancel } what;
  std::uint16_t class_id = 0, method_id = 0;  // the reply expected
  method_handler done;                        // call, consume, cancel
  std::shared_ptr<consumer> subscriber;       // consume: registered on consume-ok
  std::string consumer_tag;                   // cancel: removed on cancel-ok
};
// A publish awaiting basic.ack / nack.
struct unconfirmed_publish {
  publish_handler done;
  std::string exchange, routing_key;
  bool mandatory = false;
  std::uint64_t end = 0;                 // stream offset after its last byte
  std::optional<broker_reply> returned;  // basic.return came for it
};
// A deliver or return whose header and body frames are arriving.
struct incoming_content {
  std::optional<basic_deliver> deliver;
  std::optional<basic_return> returned;
  bool header_seen = false;
  std::uint64_t body_size = 0;
  basic_properties properties;
  std::string body;
};

}  // namespace detail

class channel {
 public:
  using id_type = channel_id;
  using deliver_handler = std::function<void(delivery)>;
  using cancelled_handler = std::function<void(std::error_code, broker_reply)>;
  enum class phase { opening, open, closing };

  // Appends channel.open; `opened` completes once open-ok (and, with
  // confirms, confirm.select-ok) has arrived.
  channel(id_type id, bool confirms, channel_handler opened, channel_context& cx);

  phase state() const noexcept { return phase_; }
  // The channel is gone (close-ok, or the broker closed it): free its id.
  bool finished() const noexcept { return finished_; }
  // Set when the broker closed the channel after it had opened (the caller
  // knows its id): the connection tells on_channel_closed.
  const std::optional<broker_reply>& closed_by_broker() const noexcept { return closed_by_broker_; }

  // The caller's requests. Each appends its frames and keeps the handler, or
  // returns the error to report (nothing appended, the handler untouched).
  std::error_code call(method request, method_handler&& done, channel_context& cx);
  std::error_code publish(const basic_publish& m, const basic_properties& properties,
                          std::string_view body, publish_handler&& done, channel_context& cx);
  std::error_code consume(basic_consume request, deliver_handler&& deliver,
                          cancelled_handler&& cancelled, method_handler&& done,
                          channel_context& cx);
  // basic.ack, nack or reject; dropped unless the channel is open.
  void acknowledge(const method& m, channel_context& cx);
  // Appends channel.close (200); everything pending fails with errc::aborted.
  void close(done_handler done, channel_context& cx);

  // Input from the broker. An error means the connection must close.
  std::error_code on_method(method m, channel_context& cx);
  std::error_code on_header(std::string_view payload, channel_context& cx);
  std::error_code on_body(std::string_view payload, channel_context& cx);

  // The channel or connection is going away: everything pending fails.
  void fail_all(std::error_code ec, const broker_reply& reply, channel_context& cx);

 private:
  using pending = detail::pending_method;
  using unconfirmed = detail::unconfirmed_publish;
  using incoming = detail::incoming_content;

  std::error_code on_reply(method m, channel_context& cx);
  void on_confirm(std::uint64_t tag, bool multiple, bool ack, channel_context& cx);
  std::error_code on_broker_cancel(const basic_cancel& cancel, channel_context& cx);
  void content_done(channel_context& cx);
  std::error_code send(const method& m, channel_context& cx);

  id_type id_;
  bool confirms_;
  phase phase_ = phase::opening;
  bool finished_ = false;
  std::optional<broker_reply> closed_by_broker_;
  channel_handler opened_;       // until open (and select) completes
  done_handler closing_;         // close(): until close-ok
  lazy_deque<pending> pending_;  // awaiting replies, oldest first
  std::uint64_t next_seq_ = 0;   // the next publish's sequence number (confirms)
  std::map<std::uint64_t, unconfirmed> unconfirmed_;            // by sequence number
  std::map<std::string, std::shared_ptr<consumer>> consumers_;  // by consumer tag
  // The content arriving while receiving_; made when the first comes and
  // kept for the next (a consumer's channel takes one after another), but
  // not held by the many channels that never receive (~0.6 KB each).
  std::unique_ptr<incoming> incoming_;
  bool receiving_ = false;
  incoming& begin_incoming();
};

}  // namespace brokerside::protocol::amqp
