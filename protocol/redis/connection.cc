#include "protocol/redis/connection.h"

#include <boost/asio/post.hpp>

#include "protocol/errc.h"

namespace brokerside::protocol::redis {

namespace asio = boost::asio;

std::shared_ptr<connection> connection::create(asio::any_io_executor executor) {
  auto io = std::make_unique<stream>(executor);
  return create(std::move(executor), std::move(io));
}

std::shared_ptr<connection> connection::create(asio::any_io_executor executor,
                                               std::unique_ptr<transport> io) {
  auto c = std::shared_ptr<connection>(new connection(std::move(executor), std::move(io)));
  c->driver_.set_owner(c);
  return c;
}

connection::connection(asio::any_io_executor executor, std::unique_ptr<transport> io)
    : driver_(std::move(executor), std::move(io), session_) {}

void connection::connect(connect_options options, done_handler done) {
  driver_.set_options(
      {.write_high_water = options.write_high_water, .write_low_water = options.write_low_water});
  session_.reset({.user = std::move(options.user),
                  .password = std::move(options.password),
                  .db = options.db,
                  .client_name = std::move(options.client_name)},
                 options.limits, [this] { driver_.handshake_done(); });
  driver_.connect(options.to, options.timeout,
                  [self = shared_from_this(), done = std::move(done)](std::error_code ec) {
                    done(ec, ec ? self->session_.error_text() : std::string());
                  });
}

void connection::execute(std::span<const std::string_view> args, reply_handler handler) {
  if (args.empty()) {
    // Redis answers nothing to an empty command: it would stall the FIFO.
    asio::post(driver_.executor(),
               [handler = std::move(handler)] { handler(errc::malformed_frame, {}, false); });
    return;
  }
  if (!driver_.is_open()) {
    asio::post(driver_.executor(),
               [handler = std::move(handler)] { handler(errc::aborted, {}, false); });
    return;
  }
  auto out = driver_.out();
  session_.execute(args, std::move(handler), out);
  driver_.flush();
}

void connection::send_without_reply(std::vector<std::string> args) {
  if (!driver_.is_open() || args.empty()) return;
  const std::vector<std::string_view> views(args.begin(), args.end());
  auto out = driver_.out();
  session_.send_without_reply(views, out);
  driver_.flush();
}

void connection::on_push(std::function<void(value)> push) { session_.on_push(std::move(push)); }

void connection::on_write_paused(std::function<void(bool)> paused) {
  driver_.on_write_paused(std::move(paused));
}

void connection::on_lost(std::function<void(std::error_code)> lost) {
  driver_.on_lost(std::move(lost));
}

void connection::close() { driver_.close(); }

}  // namespace brokerside::protocol::redis
