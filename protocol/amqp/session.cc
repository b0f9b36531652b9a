#include "protocol/amqp/session.h"

#include <algorithm>
#include <limits>

#include "protocol/amqp/frame.h"

namespace brokerside::protocol::amqp {

namespace {

// The largest frame taken before connection.tune settles frame_max: the spec
// allows only frame_min_size, but a broker with long server properties need
// not be refused for it.
constexpr std::uint32_t handshake_frame_max = 128 * 1024;

}  // namespace

void session::reset(connect_options options, events ev) {
  options_ = std::move(options);
  events_ = std::move(ev);
  shake_.reset();
  tuning_ = {};
  heartbeat_ = {};
  channels_.clear();
  reply_ = {};
  farewell_.reset();
  tuned_ = ready_ = blocked_ = false;
}

// --- the handshake ---

void session::on_open(output& out) {
  shake_.emplace(options_);
  out.bytes.append(protocol_header);
}

std::error_code session::apply(handshake::action a, output& out) {
  if (a.error) {
    reply_ = std::move(a.reply);
    if (!a.send.empty()) farewell_ = std::move(a.send.back());
    return a.error;
  }
  for (const auto& m : a.send) {
    // Before tune the broker takes frames up to frame_min_size.
    if (auto ec = append_method_frame(out.bytes, 0, m, frame_min_size)) return ec;
  }
  if (a.tuned) {
    tuned_ = true;
    tuning_ = shake_->tuned();
    if (tuning_.heartbeat != 0) heartbeat_ = heartbeat_clock(heartbeat(), now_());
    if (events_.tuned) events_.tuned();
  }
  if (!a.done) return {};
  ready_ = true;
  shake_.reset();
  if (events_.ready) events_.ready();
  return {};
}

// --- frames in ---

std::uint32_t session::frame_limit() const noexcept {
  if (!tuned_) return handshake_frame_max;
  if (tuning_.frame_max != 0) return tuning_.frame_max;
  // No limit negotiated: still none beyond a whole message in one frame.
  const auto largest = std::max<std::uint64_t>(options_.max_message_bytes, handshake_frame_max);
  return static_cast<std::uint32_t>(
      std::min<std::uint64_t>(largest + frame_overhead, std::numeric_limits<std::uint32_t>::max()));
}

std::size_t session::wanted(std::string_view in) const noexcept {
  // Only a frame's header says a size (not, say, a broker's protocol header
  // refusing ours), and never more than a frame may be.
  if (in.size() < frame_header_size) return 0;
  const auto type = static_cast<std::uint8_t>(in[0]);
  if (type != 1 && type != 2 && type != 3 && type != 8) return 0;
  std::uint32_t size = 0;
  for (std::size_t i = 3; i < frame_header_size; ++i) {
    size = (size << 8) | static_cast<std::uint8_t>(in[i]);
  }
  return std::min<std::size_t>(std::size_t{size} + frame_overhead, frame_limit());
}

std::size_t session::consume(std::string_view in, output& out, std::error_code& ec) {
  frame f;
  const auto used = decode_frame(in, f, ec, frame_limit());
  if (ec || used == 0) return 0;
  deferred_calls later;
  ec = on_frame(f, out, later);
  run(later);
  return ec ? 0 : used;
}

std::error_code session::on_frame(const frame& f, output& out, deferred_calls& later) {
  switch (f.type) {
    case frame_type::heartbeat:
      return f.channel == 0 ? std::error_code() : make_error_code(errc::malformed_frame);
    case frame_type::method: {
      method m;
      if (auto ec = decode_method(f.payload, m)) return ec;
      if (f.channel == 0) return on_connection_method(std::move(m), out, later);
      if (!ready_) return errc::malformed_frame;
      return on_channel_input(
          f.channel,
          [&](channel& ch, channel_context& cx) { return ch.on_method(std::move(m), cx); }, out,
          later);
    }
    case frame_type::header:
    case frame_type::body:
      if (f.channel == 0 || !ready_) return errc::malformed_frame;
      return on_channel_input(
          f.channel,
          [&](channel& ch, channel_context& cx) {
            return f.type == frame_type::header ? ch.on_header(f.payload, cx)
                                                : ch.on_body(f.payload, cx);
          },
          out, later);
  }
  return errc::malformed_frame;
}

std::error_code session::on_connection_method(method m, output& out, deferred_calls& later) {
  if (!ready_) return shake_ ? apply(shake_->resume(m), out) : make_error_code(errc::aborted);
  if (const auto* close = std::get_if<connection_close>(&m)) {
    reply_ = {close->reply_code, close->reply_text, close->failing_class_id,
              close->failing_method_id};
    farewell_ = connection_close_ok{};
    return errc::broker_closed;
  }
  if (auto* b = std::get_if<connection_blocked>(&m)) {
    blocked_ = true;
    if (blocked_cb_)
      later.push_back([cb = blocked_cb_, reason = std::move(b->reason)] { cb(true, reason); });
    return {};
  }
  if (std::holds_alternative<connection_unblocked>(m)) {
    blocked_ = false;
    if (blocked_cb_) later.push_back([cb = blocked_cb_] { cb(false, {}); });
    return {};
  }
  return errc::malformed_frame;  // nothing else comes unasked on channel 0
}

template <class Fn>
std::error_code session::on_channel_input(channel_id id, Fn fn, output& out,
                                          deferred_calls& later) {
  const auto it = channels_.find(id);
  if (it == channels_.end()) return {};  // closed: what was in flight is dropped
  auto cx = context(out, later);
  const auto ec = fn(it->second, cx);
  if (it->second.finished()) {
    const auto& reply = it->second.closed_by_broker();
    if (reply && channel_closed_) {
      later.push_back([cb = channel_closed_, id, reply = *reply] { cb(id, reply); });
    }
    channels_.erase(it);
  }
  return ec;
}

// --- requests ---

std::error_code session::open_channel(bool confirms, channel_handler&& done, output& out,
                                      deferred_calls& later) {
  if (!ready_) return errc::aborted;
  const auto id = free_channel_id();
  // Every id up to channel_max is taken: one frees when a channel closes.
  if (id == 0) return std::make_error_code(std::errc::resource_unavailable_try_again);
  auto cx = context(out, later);
  channels_.try_emplace(id, id, confirms, std::move(done), cx);
  return {};
}

channel_id session::free_channel_id() const noexcept {
  const std::uint32_t max = tuning_.channel_max == 0 ? 65535 : tuning_.channel_max;
  std::uint32_t next = 1;
  for (const auto& entry : channels_) {
    if (entry.first != next) break;
    ++next;
  }
  return next <= max ? static_cast<channel_id>(next) : 0;
}

// --- heartbeats and the transport ---

std::error_code session::heartbeat_due(output& out) {
  const auto a = heartbeat_.resume(now_());
  if (a.timed_out) return errc::heartbeat_timeout;
  if (a.send_heartbeat) append_heartbeat(out.bytes);
  return {};
}

void session::on_read(std::size_t) noexcept { heartbeat_.read(now_()); }

void session::on_written(std::uint64_t) noexcept { heartbeat_.wrote(now_()); }

std::error_code session::on_transport_error(std::error_code ec) {
  if (ready_ || !shake_) return ec;
  // Before open-ok the handshake says what a dropped socket means.
  auto a = shake_->closed(ec);
  reply_ = std::move(a.reply);
  return a.error;
}

// --- the end ---

void session::farewell(output& out) {
  if (!farewell_) return;
  (void)append_method_frame(out.bytes, 0, *farewell_, 0);  // close-ok: no arguments
  farewell_.reset();
}

void session::on_abort(std::error_code ec, std::uint64_t handed_over) {
  ready_ = false;
  if (events_.gone) events_.gone();
  deferred_calls later;
  std::string unused;  // failing queues nothing
  output out{unused, handed_over};
  auto cx = context(out, later);
  for (auto& [id, ch] : channels_) ch.fail_all(ec, reply_, cx);
  channels_.clear();
  run(later);
}

}  // namespace brokerside::protocol::amqp
