#include "protocol/framed/acceptor.h"

#include <boost/asio/post.hpp>
#include <utility>

namespace brokerside::protocol::framed {

std::shared_ptr<acceptor> acceptor::create(boost::asio::any_io_executor executor,
                                           connect_options options, events ev) {
  return std::shared_ptr<acceptor>(
      new acceptor(std::move(executor), std::move(options), std::move(ev)));
}

acceptor::acceptor(boost::asio::any_io_executor executor, connect_options options, events ev)
    : executor_(executor),
      strand_(make_io_strand(executor)),
      listener_(strand_),
      retry_(strand_),
      options_(std::move(options)),
      events_(std::move(ev)) {}

std::error_code acceptor::listen(const endpoint& at) { return listener_.listen(at); }

void acceptor::start() {
  boost::asio::post(strand_, [self = shared_from_this()] { self->accept_next(); });
}

void acceptor::stop(std::chrono::milliseconds flush_limit, std::function<void()> done) {
  boost::asio::post(strand_, [self = shared_from_this(), flush_limit, done = std::move(done)] {
    self->closed_ = true;
    self->listener_.close();
    self->retry_.cancel();
    for (auto& weak : self->clients_) {
      if (auto c = weak.lock()) {
        boost::asio::post(c->executor(), [c, flush_limit] { c->close_when_written(flush_limit); });
      }
    }
    self->clients_.clear();
    if (done) done();
  });
}

void acceptor::accept_next() {
  if (closed_) return;
  auto conn = connection::create(make_io_strand(executor_));
  listener_.accept(conn->transport(), [self = shared_from_this(), conn](std::error_code ec) {
    if (self->closed_) return;  // (conn, never started, goes with this handler)
    if (ec == std::errc::connection_aborted) return self->accept_next();  // the client reset first
    if (ec) return self->accept_failed(ec);
    self->admit(conn);
    self->accept_next();
  });
}

// Out of descriptors, say: try again shortly rather than spin, and say so
// once a second at most.
void acceptor::accept_failed(std::error_code ec) {
  const auto now = std::chrono::steady_clock::now();
  if (now - reported_ >= failure_report_interval) {
    reported_ = now;
    if (events_.accept_failed) events_.accept_failed(ec);
  }
  retry_.expires_after(retry_after);
  retry_.async_wait([self = shared_from_this()](boost::system::error_code e) {
    if (!e) self->accept_next();
  });
}

void acceptor::admit(const std::shared_ptr<connection>& conn) {
  std::erase_if(clients_, [](const auto& weak) { return weak.expired(); });
  if (clients_.size() >= max_clients) {
    if (events_.refused) events_.refused(clients_.size());
    return;  // never started: its socket closes with it
  }
  clients_.push_back(conn);
  boost::asio::post(conn->executor(), [conn, options = options_, admitted = events_.admitted] {
    if (admitted) admitted(conn);
    conn->start(options);
  });
}

}  // namespace brokerside::protocol::framed
