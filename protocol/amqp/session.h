// An AMQP 0-9-1 connection's protocol, without I/O: frames in, to the
// handshake (channel 0 until open-ok), the connection methods (close,
// blocked, unblocked) and the channels; the channels' frames and the
// heartbeats out. protocol::driver feeds it bytes and writes its output;
// amqp::connection runs the heartbeat timer. Time comes from `now`.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "protocol/amqp/channel.h"
#include "protocol/amqp/connection_types.h"
#include "protocol/amqp/frame.h"
#include "protocol/amqp/handshake.h"
#include "protocol/amqp/heartbeat.h"
#include "protocol/errc.h"
#include "protocol/session.h"

namespace brokerside::protocol::amqp {

// Makes the handler calls collected while an input or request was handled.
inline void run(deferred_calls& calls) {
  for (auto& call : calls) call();
}

class session final : public protocol::session {
 public:
  using clock = heartbeat_clock::clock;

  // What the connection does when the session gets this far.
  struct events {
    std::function<void()> tuned;  // tune-ok queued: start the heartbeat timer if heartbeat() > 0
    std::function<void()> ready;  // open-ok: the connection is ready
    std::function<void()> gone;   // aborting: stop the heartbeat timer
  };

  explicit session(clock::time_point (*now)() = &clock::now) noexcept : now_(now) {}

  // Starts over for a connection with `options`.
  void reset(connect_options options, events ev);

  bool ready() const noexcept { return ready_; }
  bool blocked() const noexcept { return blocked_; }
  // The negotiated values, after tune.
  std::uint32_t frame_max() const noexcept { return tuning_.frame_max; }
  std::uint16_t channel_max() const noexcept { return tuning_.channel_max; }
  std::chrono::seconds heartbeat() const noexcept {
    return std::chrono::seconds(tuning_.heartbeat);
  }
  // The broker's words with the failure that ended the connection, if any.
  const broker_reply& reply() const noexcept { return reply_; }

  void on_blocked(std::function<void(bool, std::string)> blocked) {
    blocked_cb_ = std::move(blocked);
  }
  void on_channel_closed(std::function<void(channel_id, broker_reply)> closed) {
    channel_closed_ = std::move(closed);
  }

  // Opens a channel on the lowest free id (channel.open queued). An error
  // instead: `done` untouched.
  std::error_code open_channel(bool confirms, channel_handler&& done, output& out,
                               deferred_calls& later);

  // Runs fn(channel, context) for a request on channel `id`; its frames go
  // to `out`, its handler calls to `later`. The error to report to the
  // caller instead.
  template <class Fn>
  std::error_code on_request(channel_id id, Fn fn, output& out, deferred_calls& later) {
    if (!ready_) return errc::aborted;
    const auto it = channels_.find(id);
    if (it == channels_.end()) return errc::channel_closed;
    auto cx = context(out, later);
    return fn(it->second, cx);
  }

  // Heartbeats: when to call heartbeat_due(), which queues a heartbeat
  // frame when one is due, or says errc::heartbeat_timeout.
  clock::time_point next_heartbeat() const noexcept { return heartbeat_.next_wake(); }
  std::error_code heartbeat_due(output& out);

  // protocol::session
  void on_open(output& out) override;
  std::size_t consume(std::string_view in, output& out, std::error_code& ec) override;
  std::size_t wanted(std::string_view in) const noexcept override;
  void on_read(std::size_t n) noexcept override;
  void on_written(std::uint64_t handed_over) noexcept override;
  std::error_code on_transport_error(std::error_code ec) override;
  void farewell(output& out) override;
  void on_abort(std::error_code ec, std::uint64_t handed_over) override;

 private:
  // What was queued may have reached the broker once handed over: a
  // publish among it counts as written when it fails.
  channel_context context(output& out, deferred_calls& later) {
    return {out.bytes, out.base, out.base, tuning_.frame_max, options_.max_message_bytes, later};
  }
  std::uint32_t frame_limit() const noexcept;
  std::error_code apply(handshake::action a, output& out);
  std::error_code on_frame(const frame& f, output& out, deferred_calls& later);
  std::error_code on_connection_method(method m, output& out, deferred_calls& later);
  template <class Fn>
  std::error_code on_channel_input(channel_id id, Fn fn, output& out, deferred_calls& later);
  channel_id free_channel_id() const noexcept;

  clock::time_point (*now_)();                                    // the time, injected
  connect_options options_;                                       // as connect() was given them
  events events_;                                                 // the connection's part
  std::optional<handshake> shake_;                                // from on_open() to open-ok
  tuning tuning_;                                                 // the negotiated values
  heartbeat_clock heartbeat_;                                     // from tune-ok
  std::map<channel_id, channel> channels_;                        // open, opening or closing
  std::function<void(bool, std::string)> blocked_cb_;             // connection.blocked / unblocked
  std::function<void(channel_id, broker_reply)> channel_closed_;  // the broker closed a channel
  broker_reply reply_;              // the broker's words with the failure
  std::optional<method> farewell_;  // close-ok owed to the broker's connection.close
  bool tuned_ = false;              // tune-ok queued: frame_max and the others settled
  bool ready_ = false;              // open-ok arrived, not aborted
  bool blocked_ = false;            // connection.blocked, not yet unblocked
};

}  // namespace brokerside::protocol::amqp
