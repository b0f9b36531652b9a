#include "protocol/nats/connection.h"

#include <boost/asio/post.hpp>
#include <random>

#include "protocol/errc.h"

namespace brokerside::protocol::nats {

namespace asio = boost::asio;

std::string new_inbox() {
  static constexpr char alphabet[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  thread_local std::mt19937_64 rng(std::random_device{}());
  std::string inbox = "_INBOX.";
  for (int i = 0; i < 22; ++i) inbox += alphabet[rng() % (sizeof(alphabet) - 1)];
  return inbox + ".";
}

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
  // NATS starts plain and upgrades after INFO: connect without TLS.
  tls_ = std::exchange(options.to.tls, nullptr);
  tls_name_ = options.to.server_name.empty() ? options.to.host : options.to.server_name;
  options.handshake.tls = tls_ != nullptr;
  session_.reset(
      std::move(options.handshake), options.limits, new_inbox(),
      [this] {
        driver_.start_tls(tls_, tls_name_, [](std::error_code) {
          // A failed upgrade aborts the connection (driver): connect fails.
        });
      },
      [this](std::error_code ec, const std::string&) {
        if (!ec) driver_.handshake_done();
      });
  driver_.connect(options.to, options.timeout,
                  [self = shared_from_this(), done = std::move(done)](std::error_code ec) {
                    done(ec, ec ? self->session_.last_error() : std::string());
                  });
}

void connection::fail_soon(std::function<void()> fail) {
  asio::post(driver_.executor(), std::move(fail));
}

void connection::publish(std::string_view subject, std::string_view headers,
                         std::string_view payload, confirm_handler done) {
  if (!driver_.is_ready()) {
    return fail_soon([done = std::move(done)] { done(errc::aborted, false, {}); });
  }
  // Checked first, so the handler moves in (no copy kept for a failure).
  if (auto ec = session_.check(headers, payload)) {
    return fail_soon([done = std::move(done), ec] { done(ec, false, {}); });
  }
  auto out = driver_.out();
  (void)session_.publish(subject, headers, payload, std::move(done), out);
  driver_.flush();
}

void connection::request(std::string_view subject, std::string_view headers,
                         std::string_view payload, reply_handler done, std::uint64_t& token) {
  token = 0;
  if (!driver_.is_ready()) {
    return fail_soon([done = std::move(done)] { done(errc::aborted, {}, false); });
  }
  if (auto ec = session_.check(headers, payload)) {
    return fail_soon([done = std::move(done), ec] { done(ec, {}, false); });
  }
  auto out = driver_.out();
  (void)session_.request(subject, headers, payload, std::move(done), out, token);
  driver_.flush();
}

std::error_code connection::send(std::string_view subject, std::string_view reply,
                                 std::string_view payload) {
  if (!driver_.is_ready()) return errc::aborted;
  auto out = driver_.out();
  if (auto ec = session_.send(subject, reply, payload, out)) return ec;
  driver_.flush();
  return {};
}

void connection::ping(confirm_handler done) {
  if (!driver_.is_ready()) {
    return fail_soon([done = std::move(done)] { done(errc::aborted, false, {}); });
  }
  auto out = driver_.out();
  session_.ping(std::move(done), out);
  driver_.flush();
}

std::vector<std::uint64_t> connection::subscribe(const std::vector<std::string>& subjects,
                                                 const std::string& queue,
                                                 std::function<void(msg)> message,
                                                 std::function<void(const std::string&)> refused,
                                                 confirm_handler done) {
  if (!driver_.is_ready()) {
    fail_soon([done = std::move(done)] { done(errc::aborted, false, {}); });
    return {};
  }
  auto handlers = std::make_shared<const session::subscription_handlers>(
      session::subscription_handlers{std::move(message), std::move(refused)});
  auto out = driver_.out();
  std::vector<std::uint64_t> sids;
  for (const auto& subject : subjects) {
    sids.push_back(session_.subscribe(subject, queue, handlers, out));
  }
  session_.ping(std::move(done), out);
  driver_.flush();
  return sids;
}

void connection::unsubscribe(std::uint64_t sid) {
  if (!driver_.is_ready()) return;
  auto out = driver_.out();
  session_.unsubscribe(sid, out);
  driver_.flush();
}

}  // namespace brokerside::protocol::nats
