#include "protocol/amqp/connection.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <limits>
#include <map>
#include <optional>

#include "protocol/amqp/channel.h"
#include "protocol/amqp/frame.h"
#include "protocol/amqp/handshake.h"
#include "protocol/amqp/heartbeat.h"
#include "protocol/errc.h"

namespace brokerside::protocol::amqp {

namespace asio = boost::asio;

namespace {

constexpr std::size_t read_chunk = 64 * 1024;
// The largest frame taken before connection.tune settles frame_max: the spec
// allows only frame_min_size, but a broker with long server properties need
// not be refused for it.
constexpr std::uint32_t handshake_frame_max = 128 * 1024;
// How long the close-ok answering the broker's connection.close may take to
// go out before the socket closes anyway.
constexpr auto farewell_linger = std::chrono::seconds(1);

// The size a frame header announces (the 7 bytes must be there).
std::size_t announced_frame_size(std::string_view in) noexcept {
  std::uint32_t size = 0;
  for (std::size_t i = 3; i < frame_header_size; ++i) {
    size = (size << 8) | static_cast<std::uint8_t>(in[i]);
  }
  return std::size_t{size} + frame_overhead;
}

void run(deferred_calls& calls) {
  for (auto& call : calls) call();
}

}  // namespace

// Everything but the negotiated values the header keeps: the socket, the
// timers, the buffers, the channels. Nested in connection, so it may set
// blocked_ and the tuned values.
struct connection::state {
  state(connection& owner, asio::any_io_executor executor)
      : owner(owner),
        executor(executor),
        socket(executor),
        connect_timer(executor),
        heartbeat_timer(executor) {}

  connection& owner;
  asio::any_io_executor executor;      // every handler runs here
  stream socket;                       // TCP or Unix, plain or TLS
  asio::steady_timer connect_timer;    // connect + handshake deadline; then the farewell's
  asio::steady_timer heartbeat_timer;  // the heartbeat clock's next wake
  connect_options options;
  std::optional<handshake> shake;  // from connect() to open-ok
  done_handler connect_done;       // until connect() completes
  heartbeat_clock heartbeat;
  std::map<channel_id, channel> channels;  // open, opening or closing
  std::string outbox;                      // encoded, not yet written
  std::string writing;                     // being written
  std::uint64_t written = 0;               // bytes that reached the socket, in all
  std::string inbox;                       // read, not yet decoded
  std::size_t inbox_used = 0;              // decoded prefix of inbox
  std::size_t next_frame = 0;  // the size of the partly read frame at inbox_used, once known
  std::function<void(std::error_code, broker_reply)> lost;
  std::function<void(bool, std::string)> blocked;
  std::function<void(channel_id, broker_reply)> channel_closed;
  bool started = false;    // connect() was called
  bool closed = false;     // close() was called
  bool open = false;       // socket connected and not aborted
  bool tuned = false;      // tune-ok sent: frame_max_ and the others are settled
  bool ready = false;      // handshake done, not aborted
  bool lingering = false;  // aborted, the farewell close-ok still going out

  std::shared_ptr<connection> self() { return owner.shared_from_this(); }

  // A write in flight may have reached the broker: its publishes count as
  // written when they fail (the caller must not assume they were lost).
  channel_context context(deferred_calls& later) {
    const auto handed_over = written + writing.size();
    return {outbox, handed_over, handed_over, owner.frame_max_, options.max_message_bytes, later};
  }

  // Completes `handler` with `args` from the executor, never from inside
  // the call that registered it.
  template <class Handler, class... Args>
  void post(Handler handler, Args... args) {
    if (!handler) return;
    asio::post(executor, [handler = std::move(handler), ... args = std::move(args)]() mutable {
      handler(std::move(args)...);
    });
  }

  // --- connect and handshake ---

  void on_connected(std::error_code ec) {
    if (!connect_done) return;  // timed out or closed: already failed
    if (ec) return abort(ec, {});
    open = true;
    outbox.append(protocol_header);
    start_write();
    start_read();
  }

  void apply(handshake::action a) {
    if (a.error) {
      std::optional<method> farewell;
      if (!a.send.empty()) farewell = std::move(a.send.back());
      return abort(a.error, a.reply, std::move(farewell));
    }
    for (const auto& m : a.send) {
      // Before tune the broker takes frames up to frame_min_size.
      if (auto ec = append_method_frame(outbox, 0, m, frame_min_size)) return abort(ec, {});
    }
    if (a.tuned) {
      tuned = true;
      const auto& t = shake->tuned();
      owner.frame_max_ = t.frame_max;
      owner.channel_max_ = t.channel_max;
      owner.heartbeat_ = std::chrono::seconds(t.heartbeat);
      start_heartbeat();
    }
    start_write();
    if (!a.done) return;
    ready = true;
    shake.reset();
    connect_timer.cancel();
    auto done = std::exchange(connect_done, nullptr);
    if (done) done({}, {});
  }

  // --- writing ---

  void start_write() {
    if (!writing.empty() || outbox.empty() || !(open || lingering)) return;
    std::swap(writing, outbox);
    socket.write(asio::buffer(writing), [self = self()](std::error_code ec, std::size_t n) {
      auto& s = *self->state_;
      s.written += ec ? n : s.writing.size();
      s.writing.clear();
      if (ec) return s.transport_error(ec);
      s.heartbeat.wrote(heartbeat_clock::clock::now());
      if (s.lingering && s.outbox.empty()) return s.end_linger();
      s.start_write();
    });
  }

  void end_linger() {
    if (!lingering) return;
    lingering = false;
    connect_timer.cancel();
    socket.close();
  }

  // --- reading ---

  std::uint32_t frame_limit() const {
    if (!tuned) return handshake_frame_max;
    if (owner.frame_max_ != 0) return owner.frame_max_;
    // No limit negotiated: still none beyond a whole message in one frame.
    const auto largest = std::max<std::uint64_t>(options.max_message_bytes, handshake_frame_max);
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(
        largest + frame_overhead, std::numeric_limits<std::uint32_t>::max()));
  }

  void start_read() {
    // Room for the rest of a frame whose header is in, in one read if it is large.
    const auto have = inbox.size() - inbox_used;
    const auto want = std::max(read_chunk, next_frame > have ? next_frame - have : 0);
    const auto size = inbox.size();
    inbox.resize(size + want);
    socket.read_some(asio::buffer(inbox.data() + size, want),
                     [self = self(), size](std::error_code ec, std::size_t n) {
                       auto& s = *self->state_;
                       s.inbox.resize(size + n);
                       if (!s.open) return;
                       if (n > 0) s.heartbeat.read(heartbeat_clock::clock::now());
                       if (ec) return s.transport_error(ec);
                       s.decode_inbox();
                       if (!s.open) return;
                       if (s.inbox_used > 0 && s.inbox_used * 2 >= s.inbox.size()) {
                         s.inbox.erase(0, s.inbox_used);
                         s.inbox_used = 0;
                       }
                       s.start_read();
                     });
  }

  void decode_inbox() {
    while (open) {
      const auto rest = std::string_view(inbox).substr(inbox_used);
      frame f;
      std::error_code ec;
      const auto used = decode_frame(rest, f, ec, frame_limit());
      if (ec) return abort(ec, {});
      if (used == 0) {
        next_frame = rest.size() >= frame_header_size ? announced_frame_size(rest) : 0;
        return;
      }
      inbox_used += used;
      deferred_calls later;
      ec = on_frame(f, later);
      run(later);
      if (ec) return abort(ec, {});
    }
  }

  void transport_error(std::error_code ec) {
    if (!open) return end_linger();
    if (!ready && shake) return apply(shake->closed(ec));
    abort(ec, {});
  }

  // --- frames in ---

  std::error_code on_frame(const frame& f, deferred_calls& later) {
    switch (f.type) {
      case frame_type::heartbeat:
        return f.channel == 0 ? std::error_code() : make_error_code(errc::malformed_frame);
      case frame_type::method: {
        method m;
        if (auto ec = decode_method(f.payload, m)) return ec;
        if (f.channel == 0) return on_connection_method(std::move(m), later);
        if (!ready) return errc::malformed_frame;
        return on_channel_input(
            f.channel,
            [&](channel& ch, channel_context& cx) { return ch.on_method(std::move(m), cx); },
            later);
      }
      case frame_type::header:
      case frame_type::body:
        if (f.channel == 0 || !ready) return errc::malformed_frame;
        return on_channel_input(
            f.channel,
            [&](channel& ch, channel_context& cx) {
              return f.type == frame_type::header ? ch.on_header(f.payload, cx)
                                                  : ch.on_body(f.payload, cx);
            },
            later);
    }
    return errc::malformed_frame;
  }

  std::error_code on_connection_method(method m, deferred_calls& later) {
    if (!ready) {
      apply(shake->resume(m));
      return {};
    }
    if (const auto* close = std::get_if<connection_close>(&m)) {
      abort(
          errc::broker_closed,
          {close->reply_code, close->reply_text, close->failing_class_id, close->failing_method_id},
          connection_close_ok{});
      return {};
    }
    if (auto* b = std::get_if<connection_blocked>(&m)) {
      owner.blocked_ = true;
      if (blocked)
        later.push_back([cb = blocked, reason = std::move(b->reason)] { cb(true, reason); });
      return {};
    }
    if (std::holds_alternative<connection_unblocked>(m)) {
      owner.blocked_ = false;
      if (blocked) later.push_back([cb = blocked] { cb(false, {}); });
      return {};
    }
    return errc::malformed_frame;  // nothing else comes unasked on channel 0
  }

  template <class Fn>
  std::error_code on_channel_input(channel_id id, Fn fn, deferred_calls& later) {
    const auto it = channels.find(id);
    if (it == channels.end()) return {};  // closed: what was in flight is dropped
    auto cx = context(later);
    const auto ec = fn(it->second, cx);
    if (it->second.finished()) {
      const auto& reply = it->second.closed_by_broker();
      if (reply && channel_closed) {
        later.push_back([cb = channel_closed, id, reply = *reply] { cb(id, reply); });
      }
      channels.erase(it);
    }
    start_write();
    return ec;
  }

  // --- heartbeats ---

  void start_heartbeat() {
    if (owner.heartbeat_.count() == 0) return;
    heartbeat = heartbeat_clock(owner.heartbeat_, heartbeat_clock::clock::now());
    arm_heartbeat();
  }

  void arm_heartbeat() {
    heartbeat_timer.expires_at(heartbeat.next_wake());
    heartbeat_timer.async_wait([self = self()](boost::system::error_code ec) {
      auto& s = *self->state_;
      if (ec || !s.open) return;
      const auto a = s.heartbeat.resume(heartbeat_clock::clock::now());
      if (a.timed_out) return s.abort(errc::heartbeat_timeout, {});
      if (a.send_heartbeat) {
        append_heartbeat(s.outbox);
        s.start_write();
      }
      s.arm_heartbeat();
    });
  }

  // --- the end ---

  // Fails everything with `ec`. With a farewell (close-ok to the broker's
  // close) the socket stays open until that is written, or a second passed.
  void abort(std::error_code ec, const broker_reply& reply,
             std::optional<method> farewell = std::nullopt) {
    const bool was_ready = ready;
    const bool was_open = open;
    open = false;
    ready = false;
    // Taken before the outbox is dropped: what was handed to the socket.
    deferred_calls later;
    auto cx = context(later);
    heartbeat_timer.cancel();
    connect_timer.cancel();
    outbox.clear();
    if (farewell && was_open) {
      (void)append_method_frame(outbox, 0, *farewell, 0);  // close-ok: no arguments
      lingering = true;
      start_write();
      connect_timer.expires_after(farewell_linger);
      connect_timer.async_wait([self = self()](boost::system::error_code e) {
        if (!e) self->state_->end_linger();
      });
    } else {
      lingering = false;
      socket.close();
    }
    for (auto& [id, ch] : channels) ch.fail_all(ec, reply, cx);
    channels.clear();
    if (auto done = std::exchange(connect_done, nullptr)) {
      later.push_back([done, ec, reply] { done(ec, reply); });
    }
    if (was_ready && ec != errc::aborted) {
      if (auto l = std::exchange(lost, nullptr)) later.push_back([l, ec, reply] { l(ec, reply); });
    }
    run(later);
  }

  // Runs fn(channel, context) for a request on channel `id`, then writes
  // what it queued and makes the calls it collected. Returns the error to
  // report to the caller instead.
  template <class Fn>
  std::error_code on_request(channel_id id, Fn fn) {
    if (!ready) return errc::aborted;
    const auto it = channels.find(id);
    if (it == channels.end()) return errc::channel_closed;
    deferred_calls later;
    auto cx = context(later);
    const std::error_code ec = fn(it->second, cx);
    start_write();
    run(later);
    return ec;
  }

  channel_id free_channel_id() const {
    const std::uint32_t max = owner.channel_max_ == 0 ? 65535 : owner.channel_max_;
    std::uint32_t next = 1;
    for (const auto& entry : channels) {
      if (entry.first != next) break;
      ++next;
    }
    return next <= max ? static_cast<channel_id>(next) : 0;
  }
};

std::shared_ptr<connection> connection::create(asio::any_io_executor executor) {
  return std::shared_ptr<connection>(new connection(std::move(executor)));
}

connection::connection(asio::any_io_executor executor)
    : state_(std::make_unique<state>(*this, std::move(executor))) {}

void connection::connect(connect_options options, done_handler done) {
  auto& s = *state_;
  if (s.started || s.closed) {
    s.post(std::move(done), make_error_code(errc::aborted), broker_reply{});
    return;
  }
  s.started = true;
  s.options = std::move(options);
  s.shake.emplace(s.options);
  s.connect_done = std::move(done);
  s.connect_timer.expires_after(s.options.timeout);
  s.connect_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    auto& st = *self->state_;
    if (!ec && st.connect_done) st.abort(errc::connect_timeout, {});
  });
  s.socket.connect(s.options.to, [self = shared_from_this()](std::error_code ec) {
    self->state_->on_connected(ec);
  });
}

void connection::close() {
  state_->closed = true;
  state_->abort(errc::aborted, {});
}

void connection::on_lost(std::function<void(std::error_code, broker_reply)> lost) {
  state_->lost = std::move(lost);
}

void connection::on_blocked(std::function<void(bool blocked, std::string reason)> blocked) {
  state_->blocked = std::move(blocked);
}

void connection::on_channel_closed(std::function<void(channel_id, broker_reply)> closed) {
  state_->channel_closed = std::move(closed);
}

void connection::open_channel(bool confirms, channel_handler done) {
  auto& s = *state_;
  if (!s.ready) {
    s.post(std::move(done), make_error_code(errc::aborted), channel_id{0}, broker_reply{});
    return;
  }
  const auto id = s.free_channel_id();
  if (id == 0) {
    // Every id up to channel_max is taken: one frees when a channel closes.
    s.post(std::move(done), std::make_error_code(std::errc::resource_unavailable_try_again),
           channel_id{0}, broker_reply{});
    return;
  }
  deferred_calls later;
  auto cx = s.context(later);
  s.channels.try_emplace(id, id, confirms, std::move(done), cx);
  s.start_write();
}

void connection::close_channel(channel_id id, done_handler done) {
  // Its pending operations fail at once, from here (they were registered by
  // other calls); `done` waits for close-ok.
  const auto ec = state_->on_request(id, [&](channel& ch, channel_context& cx) -> std::error_code {
    if (ch.state() == channel::phase::closing) return errc::channel_closed;
    ch.close(std::move(done), cx);
    return {};
  });
  if (ec) state_->post(std::move(done), ec, broker_reply{});
}

void connection::call(channel_id id, method request, method_handler done) {
  const auto ec = state_->on_request(id, [&](channel& ch, channel_context& cx) {
    return ch.call(std::move(request), std::move(done), cx);
  });
  if (ec) state_->post(std::move(done), ec, method{}, broker_reply{});
}

void connection::publish(channel_id id, const basic_publish& method,
                         const basic_properties& properties, std::string_view body,
                         publish_handler done) {
  const auto ec = state_->on_request(id, [&](channel& ch, channel_context& cx) {
    return ch.publish(method, properties, body, std::move(done), cx);
  });
  if (ec) state_->post(std::move(done), ec, broker_reply{}, false);
}

void connection::consume(channel_id id, basic_consume request,
                         std::function<void(delivery)> deliver,
                         std::function<void(std::error_code, broker_reply)> cancelled,
                         method_handler done) {
  const auto ec = state_->on_request(id, [&](channel& ch, channel_context& cx) {
    return ch.consume(std::move(request), std::move(deliver), std::move(cancelled), std::move(done),
                      cx);
  });
  if (ec) state_->post(std::move(done), ec, method{}, broker_reply{});
}

// After the channel or connection closed acknowledgements are dropped: the
// broker requeues what was unacked.
void connection::ack(channel_id id, std::uint64_t delivery_tag, bool multiple) {
  (void)state_->on_request(id, [&](channel& ch, channel_context& cx) {
    ch.acknowledge(basic_ack{delivery_tag, multiple}, cx);
    return std::error_code();
  });
}

void connection::nack(channel_id id, std::uint64_t delivery_tag, bool multiple, bool requeue) {
  (void)state_->on_request(id, [&](channel& ch, channel_context& cx) {
    ch.acknowledge(basic_nack{delivery_tag, multiple, requeue}, cx);
    return std::error_code();
  });
}

void connection::reject(channel_id id, std::uint64_t delivery_tag, bool requeue) {
  (void)state_->on_request(id, [&](channel& ch, channel_context& cx) {
    ch.acknowledge(basic_reject{delivery_tag, requeue}, cx);
    return std::error_code();
  });
}

std::size_t connection::unwritten() const noexcept {
  return state_->outbox.size() + state_->writing.size();
}

}  // namespace brokerside::protocol::amqp
