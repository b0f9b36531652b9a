#include "protocol/amqp/connection.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "protocol/amqp/frame.h"
#include "protocol/amqp/session.h"
#include "protocol/driver.h"
#include "protocol/errc.h"

namespace brokerside::protocol::amqp {

namespace asio = boost::asio;

namespace {

constexpr std::size_t read_chunk = 64 * 1024;

}  // namespace

// The protocol, the I/O and the heartbeat timer; behind a pointer so the
// header stays free of them.
struct connection::state {
  state(asio::any_io_executor executor, std::unique_ptr<transport> io)
      : driver(executor, std::move(io), session), heartbeat_timer(executor) {}

  amqp::session session;               // handshake, channels, heartbeats: no I/O
  protocol::driver driver;             // transport, deadline, writes, reads, abort
  asio::steady_timer heartbeat_timer;  // the heartbeat clock's next wake
  bool started = false;                // connect() was called

  // Completes `handler` with `args` from the executor, never from inside
  // the call that registered it.
  template <class Handler, class... Args>
  void post(Handler handler, Args... args) {
    if (!handler) return;
    asio::post(driver.executor(),
               [handler = std::move(handler), ... args = std::move(args)]() mutable {
                 handler(std::move(args)...);
               });
  }

  // Runs a request on channel `id` (see session::on_request), writes what it
  // queued, then makes the calls it collected. The error to report instead.
  template <class Fn>
  std::error_code request(channel_id id, Fn fn) {
    deferred_calls later;
    auto out = driver.out();
    const auto ec = session.on_request(id, fn, out, later);
    driver.flush();
    run(later);
    return ec;
  }

  // Wakes for the heartbeat clock: a heartbeat out when due, or the end
  // when the broker went silent. `owner` keeps the connection meanwhile.
  void arm_heartbeat(std::shared_ptr<void> owner) {
    heartbeat_timer.expires_at(session.next_heartbeat());
    heartbeat_timer.async_wait([this, owner](boost::system::error_code ec) {
      if (ec || !driver.is_open()) return;
      auto out = driver.out();
      if (auto e = session.heartbeat_due(out)) return driver.abort(e);
      driver.flush();
      arm_heartbeat(owner);
    });
  }
};

std::shared_ptr<connection> connection::create(asio::any_io_executor executor) {
  auto io = std::make_unique<stream>(executor);
  return create(std::move(executor), std::move(io));
}

std::shared_ptr<connection> connection::create(asio::any_io_executor executor,
                                               std::unique_ptr<transport> io) {
  auto c = std::shared_ptr<connection>(new connection(std::move(executor), std::move(io)));
  c->state_->driver.set_owner(c);
  c->state_->driver.set_options({.read_chunk = read_chunk});
  return c;
}

connection::connection(asio::any_io_executor executor, std::unique_ptr<transport> io)
    : state_(std::make_unique<state>(std::move(executor), std::move(io))) {}

connection::~connection() = default;

void connection::connect(connect_options options, done_handler done) {
  auto& s = *state_;
  if (s.started || s.driver.closed()) {
    s.post(std::move(done), make_error_code(errc::aborted), broker_reply{});
    return;
  }
  s.started = true;
  const auto to = options.to;
  const auto timeout = options.timeout;
  session::events events;
  events.tuned = [this] {
    if (state_->session.heartbeat().count() != 0) state_->arm_heartbeat(shared_from_this());
  };
  events.ready = [this] { state_->driver.handshake_done(); };
  events.gone = [this] { state_->heartbeat_timer.cancel(); };
  s.session.reset(std::move(options), std::move(events));
  s.driver.connect(to, timeout, [this, done = std::move(done)](std::error_code ec) {
    done(ec, ec ? state_->session.reply() : broker_reply{});
  });
}

void connection::close() { state_->driver.close(); }

void connection::on_lost(std::function<void(std::error_code, broker_reply)> lost) {
  state_->driver.on_lost(
      [this, lost = std::move(lost)](std::error_code ec) { lost(ec, state_->session.reply()); });
}

void connection::on_blocked(std::function<void(bool blocked, std::string reason)> blocked) {
  state_->session.on_blocked(std::move(blocked));
}

void connection::on_channel_closed(std::function<void(channel_id, broker_reply)> closed) {
  state_->session.on_channel_closed(std::move(closed));
}

bool connection::blocked() const noexcept { return state_->session.blocked(); }
std::uint32_t connection::frame_max() const noexcept { return state_->session.frame_max(); }
std::uint16_t connection::channel_max() const noexcept { return state_->session.channel_max(); }
std::chrono::seconds connection::heartbeat() const noexcept { return state_->session.heartbeat(); }

void connection::open_channel(bool confirms, channel_handler done) {
  auto& s = *state_;
  deferred_calls later;
  auto out = s.driver.out();
  const auto ec = s.session.open_channel(confirms, std::move(done), out, later);
  if (ec) return s.post(std::move(done), ec, channel_id{0}, broker_reply{});
  s.driver.flush();
  run(later);
}

void connection::close_channel(channel_id id, done_handler done) {
  // Its pending operations fail at once, from here (they were registered by
  // other calls); `done` waits for close-ok.
  const auto ec = state_->request(id, [&](channel& ch, channel_context& cx) -> std::error_code {
    if (ch.state() == channel::phase::closing) return errc::channel_closed;
    ch.close(std::move(done), cx);
    return {};
  });
  if (ec) state_->post(std::move(done), ec, broker_reply{});
}

void connection::call(channel_id id, method request, method_handler done) {
  const auto ec = state_->request(id, [&](channel& ch, channel_context& cx) {
    return ch.call(std::move(request), std::move(done), cx);
  });
  if (ec) state_->post(std::move(done), ec, method{}, broker_reply{});
}

void connection::publish(channel_id id, const basic_publish& method,
                         const basic_properties& properties, std::string_view body,
                         publish_handler done) {
  const auto ec = state_->request(id, [&](channel& ch, channel_context& cx) {
    return ch.publish(method, properties, body, std::move(done), cx);
  });
  if (ec) state_->post(std::move(done), ec, broker_reply{}, false);
}

void connection::consume(channel_id id, basic_consume request,
                         std::function<void(delivery)> deliver,
                         std::function<void(std::error_code, broker_reply)> cancelled,
                         method_handler done) {
  const auto ec = state_->request(id, [&](channel& ch, channel_context& cx) {
    return ch.consume(std::move(request), std::move(deliver), std::move(cancelled), std::move(done),
                      cx);
  });
  if (ec) state_->post(std::move(done), ec, method{}, broker_reply{});
}

// After the channel or connection closed acknowledgements are dropped: the
// broker requeues what was unacked.
void connection::ack(channel_id id, std::uint64_t delivery_tag, bool multiple) {
  (void)state_->request(id, [&](channel& ch, channel_context& cx) {
    ch.acknowledge(basic_ack{delivery_tag, multiple}, cx);
    return std::error_code();
  });
}

void connection::nack(channel_id id, std::uint64_t delivery_tag, bool multiple, bool requeue) {
  (void)state_->request(id, [&](channel& ch, channel_context& cx) {
    ch.acknowledge(basic_nack{delivery_tag, multiple, requeue}, cx);
    return std::error_code();
  });
}

void connection::reject(channel_id id, std::uint64_t delivery_tag, bool requeue) {
  (void)state_->request(id, [&](channel& ch, channel_context& cx) {
    ch.acknowledge(basic_reject{delivery_tag, requeue}, cx);
    return std::error_code();
  });
}

std::size_t connection::unwritten() const noexcept { return state_->driver.unwritten(); }

}  // namespace brokerside::protocol::amqp
