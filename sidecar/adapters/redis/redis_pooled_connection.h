// A pooled Redis connection: the pool's view of protocol::redis::connection,
// made by the target's factory (pool connections and the shared subscriber
// connections alike). On a Sentinel target it first asks a sentinel (the
// URL it is given) where the primary is, connects there and checks that the
// server says it is the primary; it then follows the sentinels' watch,
// which retires it when they name another primary.
#pragma once

#include <charconv>
#include <memory>
#include <string>

#include "pool/connection.h"
#include "protocol/redis/connection.h"
#include "protocol/redis/sentinel.h"
#include "sidecar/adapters/redis/redis_options.h"
#include "sidecar/adapters/redis/redis_sentinel_watch.h"
#include "sidecar/pooled_factory.h"
#include "sidecar/target_settings.h"

namespace brokerside::sidecar {

class redis_pooled_connection final : public pool::connection {
 public:
  // How it reaches its server from the URL it is given.
  enum class route {
    direct,        // the URL's server
    via_sentinel,  // the primary the URL's sentinel names (its path the master's name)
    to_sentinel,   // the URL's sentinel itself (the watch's connection)
  };

  // `readonly`: a cluster replica's connection, which says READONLY after
  // its handshake so that it serves reads of its master's slots.
  redis_pooled_connection(boost::asio::any_io_executor executor,
                          std::shared_ptr<const target_settings> target, route how = route::direct,
                          std::shared_ptr<redis_sentinel_watch> watch = nullptr,
                          bool readonly = false)
      : executor_(executor),
        conn_(protocol::redis::connection::create(std::move(executor))),
        target_(std::move(target)),
        route_(how),
        watch_(std::move(watch)),
        readonly_(readonly) {}
  ~redis_pooled_connection() override { conn_->close(); }

  void connect(const pool::broker_url& url, pool::millis timeout, completion done) override {
    if (route_ != route::via_sentinel) {
      after_handshake then;
      if (readonly_) {
        then = [conn = conn_, error_text = error_text_](completion finish) {
          conn->execute({"READONLY"}, [error_text, finish = std::move(finish)](
                                          std::error_code ec, protocol::redis::value v, bool) {
            if (!ec && v.type == protocol::redis::resp_type::error) {
              *error_text = "redis: READONLY refused: " + v.text;
              ec = make_error_code(pool::errc::unavailable);
            }
            finish(ec);
          });
        };
      }
      return open(options_for(endpoint_for(url, *target_), url, route_ == route::direct, timeout),
                  std::move(done), std::move(then));
    }
    // The callbacks may outlive this object (a connect in flight when the
    // pool closes it), so they share what they need rather than hold `this`.
    const auto started = pool::clock::now();
    auto sentinel = endpoint_for(url, *target_);
    protocol::redis::ask_sentinel(
        executor_, options_for(sentinel, url, false, timeout), url.path,
        [conn = conn_, error_text = error_text_, member = member_, watch = watch_,
         executor = executor_, sentinel, url, timeout, started, target = target_,
         done = std::move(done)](std::error_code ec, std::string text,
                                 protocol::redis::server_address primary) mutable {
          if (ec) {
            *error_text = "redis: " + text;
            return done(ec);
          }
          const auto left =
              timeout - std::chrono::duration_cast<pool::millis>(pool::clock::now() - started);
          if (left.count() <= 0) {
            *error_text = "redis: the sentinel answered, no time was left to connect";
            return done(make_error_code(protocol::errc::connect_timeout));
          }
          auto to = sentinel;
          to.host = primary.host;
          to.port = primary.port;
          member->primary = primary;
          member->executor = executor;
          open(conn, error_text, options_for(to, url, true, left, *target), std::move(done),
               [conn, error_text, member, watch, primary](completion finish) {
                 // Only a server that says it is the primary will do: a
                 // sentinel's view lags a failover by a moment.
                 conn->execute({"ROLE"}, [conn, error_text, member, watch, primary,
                                          finish = std::move(finish)](
                                             std::error_code ec, protocol::redis::value v, bool) {
                   if (ec) return finish(ec);
                   if (!protocol::redis::says_primary(v)) {
                     *error_text = "redis: " + primary.text() +
                                   ", named by the sentinel, is not the primary (yet)";
                     conn->close();
                     return finish(make_error_code(pool::errc::unavailable));
                   }
                   if (watch) watch->enroll(member);
                   finish({});
                 });
               });
        });
  }

  void health_check(completion done) override {
    // A RESP2 subscriber cannot tell a PING's answer from a message (both
    // are arrays): trusted while its socket lives. RESP3 answers PING
    // apart from its pushes.
    if (conn_->subscriber() && conn_->protocol() < 3) return done({});
    conn_->execute({"PING"}, [done = std::move(done)](std::error_code ec, protocol::redis::value v,
                                                      bool) {
      done(ec                                            ? ec
           : v.type == protocol::redis::resp_type::error ? make_error_code(pool::errc::unavailable)
                                                         : std::error_code{});
    });
  }

  void close() override { conn_->close(); }
  void on_lost(completion lost) override { conn_->on_lost(std::move(lost)); }
  void on_write_paused(std::function<void(bool)> paused) override {
    conn_->on_write_paused(std::move(paused));
  }
  // The sentinels named another primary: the watch retires it.
  void on_retire(std::function<void()> retire) override {
    if (route_ != route::via_sentinel) return;
    member_->retire = std::move(retire);
    member_->settle();
  }

  std::string error_text() const override { return *error_text_; }

  protocol::redis::connection& redis() { return *conn_; }

 private:
  using after_handshake = std::function<void(completion)>;

  protocol::redis::connect_options options_for(protocol::endpoint to, const pool::broker_url& url,
                                               bool credentials, pool::millis timeout) const {
    return options_for(std::move(to), url, credentials, timeout, *target_);
  }

  static protocol::redis::connect_options options_for(protocol::endpoint to,
                                                      const pool::broker_url& url, bool credentials,
                                                      pool::millis timeout,
                                                      const target_settings& target) {
    protocol::redis::connect_options o;
    o.to = std::move(to);
    o.timeout = timeout;
    o.limits.max_reply_bytes = static_cast<std::size_t>(target.max_frame_bytes);
    o.write_high_water = static_cast<std::size_t>(target.write_high_water);
    o.write_low_water = static_cast<std::size_t>(target.write_low_water);
    o.client_name = std::string(url.option("client_name").value_or("brokerside"));
    if (!credentials) {  // a sentinel: its own login, if any
      const auto& options = target.options_as<redis_options>();
      o.user = options.sentinel_username;
      o.password = options.sentinel_password;
      return o;
    }
    o.user = url.user;
    o.password = url.password;
    // A Sentinel URL's path is the master's name: its database only as ?db=.
    const auto db = url.option("db").value_or(
        url.scheme.ends_with("+sentinel") ? std::string_view{} : std::string_view(url.path));
    if (!db.empty()) std::from_chars(db.data(), db.data() + db.size(), o.db);
    return o;
  }

  void open(protocol::redis::connect_options o, completion done, after_handshake then) {
    open(conn_, error_text_, std::move(o), std::move(done), std::move(then));
  }

  static void open(const std::shared_ptr<protocol::redis::connection>& conn,
                   const std::shared_ptr<std::string>& error_text,
                   protocol::redis::connect_options o, completion done, after_handshake then) {
    conn->connect(std::move(o), [error_text, done = std::move(done), then = std::move(then)](
                                    std::error_code ec, std::string text) mutable {
      *error_text = ec ? "redis: " + (text.empty() ? ec.message() : text) : "";
      if (ec || !then) return done(connect_error(ec));
      then(std::move(done));
    });
  }

  boost::asio::any_io_executor executor_;
  std::shared_ptr<protocol::redis::connection> conn_;
  std::shared_ptr<const target_settings> target_;  // URLs, TLS, limits
  route route_;
  std::shared_ptr<redis_sentinel_watch> watch_;  // via_sentinel: follows failovers; may be null
  bool readonly_;  // a cluster replica's: READONLY after the handshake
  std::shared_ptr<redis_sentinel_watch::member> member_ =
      std::make_shared<redis_sentinel_watch::member>();  // via_sentinel: whom it enrolled with
  std::shared_ptr<std::string> error_text_ =
      std::make_shared<std::string>();  // last connect failure
};

// The factory of a Redis target's connections: all `how`, following `watch`.
class redis_connection_factory final : public pool::connection_factory {
 public:
  redis_connection_factory(std::shared_ptr<const target_settings> target,
                           redis_pooled_connection::route how,
                           std::shared_ptr<redis_sentinel_watch> watch, std::uint32_t cap,
                           bool readonly = false)
      : target_(std::move(target)),
        how_(how),
        watch_(std::move(watch)),
        cap_(cap),
        readonly_(readonly) {}

  std::unique_ptr<pool::connection> make(boost::asio::any_io_executor executor) override {
    return std::make_unique<redis_pooled_connection>(std::move(executor), target_, how_, watch_,
                                                     readonly_);
  }
  std::uint32_t per_connection_cap() const override { return cap_; }

 private:
  std::shared_ptr<const target_settings> target_;
  redis_pooled_connection::route how_;
  std::shared_ptr<redis_sentinel_watch> watch_;
  std::uint32_t cap_;
  bool readonly_;
};

}  // namespace brokerside::sidecar
