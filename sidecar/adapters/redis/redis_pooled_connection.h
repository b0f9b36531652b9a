// A pooled Redis connection: the pool's view of protocol::redis::connection,
// made by the target's pooled_factory (pool connections and the shared
// subscriber connections alike).
#pragma once

#include <charconv>
#include <memory>
#include <string>

#include "pool/connection.h"
#include "protocol/redis/connection.h"
#include "sidecar/pooled_factory.h"
#include "sidecar/target_settings.h"

namespace brokerside::sidecar {

class redis_pooled_connection final : public pool::connection {
 public:
  redis_pooled_connection(boost::asio::any_io_executor executor,
                          std::shared_ptr<const target_settings> target)
      : conn_(protocol::redis::connection::create(std::move(executor))),
        target_(std::move(target)) {}
  ~redis_pooled_connection() override { conn_->close(); }

  void connect(const pool::broker_url& url, pool::millis timeout, completion done) override {
    protocol::redis::connect_options o;
    o.to = endpoint_for(url, *target_);
    o.user = url.user;
    o.password = url.password;
    o.timeout = timeout;
    o.limits.max_reply_bytes = static_cast<std::size_t>(target_->max_frame_bytes);
    o.write_high_water = static_cast<std::size_t>(target_->write_high_water);
    o.write_low_water = static_cast<std::size_t>(target_->write_low_water);
    o.client_name = std::string(url.option("client_name").value_or("brokerside"));
    const auto db = url.option("db").value_or(url.path);
    if (!db.empty()) std::from_chars(db.data(), db.data() + db.size(), o.db);
    // The callback may outlive this object (a connect in flight when the
    // pool closes it), so it shares the text rather than holding `this`.
    conn_->connect(std::move(o), [error_text = error_text_, done = std::move(done)](
                                     std::error_code ec, std::string text) {
      *error_text = ec ? "redis: " + (text.empty() ? ec.message() : text) : "";
      done(connect_error(ec));
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

  std::string error_text() const override { return *error_text_; }

  protocol::redis::connection& redis() { return *conn_; }

 private:
  std::shared_ptr<protocol::redis::connection> conn_;
  std::shared_ptr<const target_settings> target_;  // URLs, TLS, limits
  std::shared_ptr<std::string> error_text_ =
      std::make_shared<std::string>();  // last connect failure
};

}  // namespace brokerside::sidecar
