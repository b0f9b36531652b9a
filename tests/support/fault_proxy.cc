#include "tests/support/fault_proxy.h"

#include <algorithm>
#include <array>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <vector>

namespace brokerside::testing_support {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

namespace {

constexpr std::size_t chunk = 16 * 1024;

class session;

}  // namespace

struct fault_proxy::impl {
  explicit impl(tcp::endpoint broker) : acceptor(io), broker(broker) {}

  void accept();
  void apply(const faults& f);
  void close_all(bool stopping);

  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  tcp::acceptor acceptor;
  tcp::endpoint broker;                          // where connections go
  faults current;                                // in force (I/O thread only)
  std::vector<std::weak_ptr<session>> sessions;  // open ones (I/O thread only)
  bool stopping = false;                         // the destructor runs
  std::atomic<std::uint64_t> accepted{0}, open{0}, resets{0}, upstream{0}, downstream{0};
};

namespace {

// One client connection and its connection to the broker: two pipes, each
// a loop of gate, read, delay, gate, write.
class session : public std::enable_shared_from_this<session> {
 public:
  session(fault_proxy::impl& owner, tcp::socket client)
      : owner_(owner),
        client_(std::move(client)),
        broker_(owner.io),
        reset_budget_(owner.current.reset_after_downstream),
        up_{client_,
            broker_,
            true,
            {},
            0,
            false,
            asio::steady_timer(owner.io),
            asio::steady_timer(owner.io)},
        down_{broker_,
              client_,
              false,
              {},
              0,
              false,
              asio::steady_timer(owner.io),
              asio::steady_timer(owner.io)} {}

  void start() {
    ++owner_.open;
    broker_.async_connect(owner_.broker, [self = shared_from_this()](error_code ec) {
      if (self->closed_) return;
      if (ec) return self->close(true);
      self->broker_.set_option(tcp::no_delay(true));
      self->client_.set_option(tcp::no_delay(true));
      self->pump(self->up_);
      self->pump(self->down_);
    });
  }

  // The faults changed: held pipes look again, the reset budget restarts.
  void wake() {
    reset_budget_ = owner_.current.reset_after_downstream;
    up_.gate.cancel();
    down_.gate.cancel();
  }

  // Closes both sockets; `reset`: with SO_LINGER 0, so the peers get RST.
  void close(bool reset) {
    if (closed_) return;
    closed_ = true;
    --owner_.open;
    for (auto* s : {&client_, &broker_}) {
      error_code ignored;
      if (reset && s->is_open()) s->set_option(asio::socket_base::linger(true, 0), ignored);
      s->close(ignored);
    }
    for (auto* p : {&up_, &down_}) {
      p->gate.cancel();
      p->delay.cancel();
    }
  }

 private:
  struct pipe {
    tcp::socket& from;
    tcp::socket& to;
    bool upstream;
    std::array<char, chunk> buffer;
    std::size_t length;  // read, not yet forwarded
    bool ended;          // `from` sent EOF
    asio::steady_timer gate;
    asio::steady_timer delay;
  };

  bool held(const pipe& p) const {
    return p.upstream ? owner_.current.hold_upstream : owner_.current.hold_downstream;
  }
  std::size_t rate(const pipe& p) const {
    return p.upstream ? owner_.current.rate_upstream : owner_.current.rate_downstream;
  }
  fault_proxy::millis latency(const pipe& p) const {
    return p.upstream ? owner_.current.latency_upstream : owner_.current.latency_downstream;
  }

  // Waits until the faults change (wake() cancels the gate), then `then`.
  template <typename Then>
  void wait_at_gate(pipe& p, Then then) {
    p.gate.expires_at(asio::steady_timer::time_point::max());
    p.gate.async_wait([self = shared_from_this(), then](error_code) {
      if (!self->closed_) then();
    });
  }

  void pump(pipe& p) {
    if (closed_) return;
    if (held(p)) return wait_at_gate(p, [this, &p] { pump(p); });
    // A capped pipe reads at most a tenth of a second's worth at a time.
    const auto r = rate(p);
    const std::size_t want = r == 0 ? chunk : std::clamp<std::size_t>(r / 10, 1, chunk);
    p.from.async_read_some(asio::buffer(p.buffer.data(), want),
                           [self = shared_from_this(), &p](error_code ec, std::size_t n) {
                             if (self->closed_) return;
                             if (ec == asio::error::eof) return self->end(p);
                             if (ec) return self->close(true);
                             p.length = n;
                             self->delay(p);
                           });
  }

  void delay(pipe& p) {
    auto wait = std::chrono::duration_cast<std::chrono::microseconds>(latency(p));
    if (const auto r = rate(p); r != 0) {
      wait += std::chrono::microseconds(static_cast<std::int64_t>(p.length * 1'000'000 / r));
    }
    if (wait.count() == 0) return forward(p);
    p.delay.expires_after(wait);
    p.delay.async_wait([self = shared_from_this(), &p](error_code) {
      if (!self->closed_) self->forward(p);
    });
  }

  void forward(pipe& p) {
    if (closed_) return;
    if (held(p)) return wait_at_gate(p, [this, &p] { forward(p); });
    std::size_t n = p.length;
    bool reset_now = false;
    if (!p.upstream && reset_budget_) {
      if (*reset_budget_ <= n) {
        n = *reset_budget_;
        reset_now = true;
      }
      *reset_budget_ -= n;
    }
    asio::async_write(p.to, asio::buffer(p.buffer.data(), n),
                      [self = shared_from_this(), &p, n, reset_now](error_code ec, std::size_t) {
                        if (self->closed_) return;
                        if (ec) return self->close(true);
                        (p.upstream ? self->owner_.upstream : self->owner_.downstream) += n;
                        if (reset_now) {
                          ++self->owner_.resets;
                          return self->close(true);
                        }
                        self->pump(p);
                      });
  }

  // `from` closed its sending side: pass the half-close on; once both
  // sides have, close.
  void end(pipe& p) {
    p.ended = true;
    error_code ignored;
    p.to.shutdown(tcp::socket::shutdown_send, ignored);
    if (up_.ended && down_.ended) close(false);
  }

  fault_proxy::impl& owner_;
  tcp::socket client_;
  tcp::socket broker_;
  std::optional<std::size_t> reset_budget_;  // downstream bytes before the reset
  pipe up_;
  pipe down_;
  bool closed_ = false;
};

}  // namespace

void fault_proxy::impl::accept() {
  acceptor.async_accept([this](error_code ec, tcp::socket socket) {
    if (stopping || !acceptor.is_open()) return;
    if (!ec) {
      ++accepted;
      auto s = std::make_shared<session>(*this, std::move(socket));
      std::erase_if(sessions, [](const auto& w) { return w.expired(); });
      sessions.push_back(s);
      s->start();
    }
    accept();
  });
}

void fault_proxy::impl::apply(const faults& f) {
  current = f;
  for (auto& w : sessions) {
    if (auto s = w.lock()) s->wake();
  }
}

void fault_proxy::impl::close_all(bool stop) {
  if (stop) {
    stopping = true;
    error_code ignored;
    acceptor.close(ignored);
  }
  for (auto& w : sessions) {
    if (auto s = w.lock()) s->close(true);
  }
  sessions.clear();
}

fault_proxy::fault_proxy(std::string broker_host, std::uint16_t broker_port)
    : impl_(
          std::make_shared<impl>(tcp::endpoint(asio::ip::make_address(broker_host), broker_port))) {
  const tcp::endpoint listen(asio::ip::address_v4::loopback(), 0);
  impl_->acceptor.open(listen.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(listen);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  impl_->accept();
  thread_ = std::thread([i = impl_] { i->io.run(); });
}

fault_proxy::~fault_proxy() {
  asio::post(impl_->io, [i = impl_] { i->close_all(true); });
  impl_->work.reset();
  thread_.join();
}

void fault_proxy::set(const faults& f) {
  std::promise<void> applied;
  asio::post(impl_->io, [i = impl_, f, &applied] {
    i->apply(f);
    applied.set_value();
  });
  applied.get_future().wait();
}

void fault_proxy::reset_all() {
  std::promise<void> done;
  asio::post(impl_->io, [i = impl_, &done] {
    i->close_all(false);
    done.set_value();
  });
  done.get_future().wait();
}

fault_proxy::counters fault_proxy::stats() const {
  counters c;
  c.accepted = impl_->accepted;
  c.open = impl_->open;
  c.resets = impl_->resets;
  c.upstream = impl_->upstream;
  c.downstream = impl_->downstream;
  return c;
}

}  // namespace brokerside::testing_support
