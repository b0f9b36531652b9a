#include "protocol/framed/connection.h"

#include <boost/asio/post.hpp>

#include "protocol/errc.h"

namespace brokerside::protocol::framed {

namespace asio = boost::asio;

std::shared_ptr<connection> connection::create(asio::any_io_executor executor) {
  auto io = std::make_unique<stream>(executor);
  return create(std::move(executor), std::move(io));
}

std::shared_ptr<connection> connection::create(asio::any_io_executor executor,
                                               std::unique_ptr<protocol::transport> io) {
  auto c = std::shared_ptr<connection>(new connection(std::move(executor), std::move(io)));
  c->driver_.set_owner(c);
  return c;
}

connection::connection(asio::any_io_executor executor, std::unique_ptr<protocol::transport> io)
    : driver_(std::move(executor), std::move(io), session_) {}

void connection::connect(connect_options options, std::function<void(std::error_code)> done) {
  session_.reset(options.codec, options.max_frame, options.limits,
                 [this] { driver_.handshake_done(); });
  driver_.connect(options.to, options.timeout, std::move(done));
}

void connection::start(connect_options options) {
  session_.reset(options.codec, options.max_frame, options.limits, nullptr);
  driver_.start();
}

std::error_code connection::request(const value& content, reply_handler handler, std::int64_t& id) {
  if (!driver_.is_open() || driver_.draining()) {
    id = session_.take_id();
    asio::post(driver_.executor(), [h = std::move(handler)] { h(errc::aborted, {}, {}, false); });
    return {};
  }
  auto out = driver_.out();
  if (auto ec = session_.request(content, std::move(handler), id, out)) return ec;
  driver_.flush();
  return {};
}

void connection::abandon(std::int64_t id) {
  if (session_.abandon(id)) driver_.abort(errc::aborted);
}

void connection::on_request(std::function<void(std::int64_t, value)> request) {
  session_.on_request(std::move(request));
}

void connection::reply(std::int64_t id, message_type answer, const value& content) {
  if (!driver_.is_open()) return;
  auto out = driver_.out();
  session_.reply(id, answer, content, out);
  driver_.flush();
}

void connection::close() { driver_.close(); }

void connection::close_when_written(std::chrono::milliseconds limit) {
  driver_.close_when_written(limit);
}

void connection::on_lost(std::function<void(std::error_code)> lost) {
  driver_.on_lost(std::move(lost));
}

}  // namespace brokerside::protocol::framed
