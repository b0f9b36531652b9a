#include "sidecar/adapters/amqp/amqp_adapter.h"

#include <boost/asio/post.hpp>
#include <charconv>

#include "pool/errc.h"
#include "protocol/amqp/client.h"
#include "protocol/errc.h"
#include "sidecar/adapters/amqp/amqp_options.h"
#include "sidecar/adapters/amqp/amqp_subscription.h"
#include "sidecar/adapters/amqp/amqp_translate.h"
#include "sidecar/config_section.h"
#include "sidecar/consumer_hub.h"
#include "sidecar/pooled_factory.h"
#include "sidecar/status.h"

namespace brokerside::sidecar {
namespace {

namespace amqp = protocol::amqp;
namespace translate = amqp_translate;

using translate::describe;

std::shared_ptr<const adapter_options> read_options(const config_section& s,
                                                    const target_settings&) {
  auto o = std::make_shared<amqp_options>();
  s.read("exchange_check_interval", o->exchange_check_interval);
  s.read("subscriber_connections", o->subscriber_connections, 1, 1024);
  s.read("channels_per_connection", o->channels_per_connection, 1, 65535);
  return o;
}

// How a failed AMQP operation ends: broker refusals by their reply code (the
// connection stays), anything else as a connection error.
attempt_outcome failure(std::error_code ec, const amqp::broker_reply& reply, bool written) {
  using pool::failure_kind;
  // The request's own fields broke an AMQP limit (a name beyond 255 bytes,
  // a table too deep, a header beyond frame_max): nothing was sent, and the
  // connection is fine. Not retried: it would fail the same way.
  if (ec == protocol::errc::field_too_long || ec == protocol::errc::nesting_too_deep ||
      (ec == protocol::errc::frame_too_large && !written)) {
    return attempt_outcome::failed({make_error_code(pool::errc::invalid_operation),
                                    failure_kind::operation, false,
                                    "amqp: the request cannot be encoded: " + ec.message()});
  }
  if (ec == protocol::errc::channel_closed || ec == protocol::errc::publish_returned) {
    return attempt_outcome::failed({translate::error_for_reply_code(reply.code),
                                    failure_kind::operation, true, describe(reply, ec)});
  }
  if (ec == protocol::errc::publish_nacked) {
    return attempt_outcome::failed({make_error_code(pool::errc::unavailable),
                                    failure_kind::operation, true,
                                    "amqp: the broker refused the publish (nack)"});
  }
  return attempt_outcome::failed({ec, failure_kind::connection, written, describe(reply, ec)});
}

// How a request that got no reply ends.
attempt_outcome request_failure(const amqp::request_outcome& o) {
  if (!o.awaiting_reply) return failure(o.ec, o.broker, o.written);
  // Another request's error closed the reply channel: this one may be retried.
  if (o.ec == protocol::errc::channel_closed) {
    return attempt_outcome::failed({make_error_code(pool::errc::unavailable),
                                    pool::failure_kind::operation, true, describe(o.broker, o.ec)});
  }
  // The connection is gone (the request was sent: the outcome is unknown).
  return attempt_outcome::failed({o.ec, pool::failure_kind::connection, o.written,
                                  "amqp: " + o.ec.message() + " while awaiting the reply"});
}

class pooled_connection final : public pool::connection {
 public:
  pooled_connection(boost::asio::any_io_executor executor,
                    std::shared_ptr<const target_settings> target)
      : executor_(executor),
        client_(amqp::client::create(amqp::connection::create(executor))),
        target_(std::move(target)),
        error_text_(std::make_shared<std::string>()) {
    client_->set_exchange_check_interval(
        target_->options_as<amqp_options>().exchange_check_interval);
  }
  ~pooled_connection() override { client_->shut_down(); }

  void connect(const pool::broker_url& url, pool::millis timeout, completion done) override {
    amqp::connect_options o;
    o.to = endpoint_for(url, *target_);
    if (!url.user.empty()) o.user = url.user;
    if (!url.password.empty() || !url.user.empty()) o.password = url.password;
    // amqp://host/vhost; none (or "/") is the default vhost "/".
    if (!url.path.empty()) o.vhost = url.path;
    o.timeout = timeout;
    o.connection_name = std::string(url.option("connection_name").value_or("brokerside"));
    if (const auto h = url.option("heartbeat")) {
      int seconds = 0;
      std::from_chars(h->data(), h->data() + h->size(), seconds);
      o.heartbeat = std::chrono::seconds(seconds);
    }
    o.max_message_bytes = target_->max_frame_bytes;
    client_->connect(std::move(o), [text = error_text_, done = std::move(done)](
                                       std::error_code ec, amqp::broker_reply reply) {
      *text = ec ? describe(reply, ec) : "";
      done(connect_error(ec));
    });
  }

  // Heartbeats watch the connection; an idle one is healthy while not lost.
  void health_check(completion done) override {
    boost::asio::post(executor_, [c = client_, done = std::move(done)] {
      done(c->lost() ? make_error_code(pool::errc::unavailable) : std::error_code{});
    });
  }

  void close() override { client_->close(); }

  void on_lost(completion lost) override {
    client_->on_lost([text = std::weak_ptr<std::string>(error_text_), lost = std::move(lost)](
                         std::error_code ec, amqp::broker_reply reply) {
      if (auto t = text.lock(); t && reply.code != 0) *t = describe(reply, ec);
      lost(ec);
    });
  }

  // A broker under a resource alarm (connection.blocked) stops reading what
  // publishers send: the pool gives the connection no new work meanwhile.
  void on_write_paused(std::function<void(bool)> paused) override {
    client_->conn().on_blocked(
        [paused = std::move(paused)](bool blocked, const std::string&) { paused(blocked); });
  }

  // RabbitMQ says connection.blocked right after the handshake when an
  // alarm is in effect already, before the pool has registered above.
  bool write_paused_now() const override { return client_->conn().blocked(); }

  std::string error_text() const override { return *error_text_; }

  const boost::asio::any_io_executor& executor() const { return executor_; }
  amqp::client& client() { return *client_; }

 private:
  boost::asio::any_io_executor executor_;          // the pool's strand
  std::shared_ptr<amqp::client> client_;           // channels, requests, the connection
  std::shared_ptr<const target_settings> target_;  // its max frame, endpoint options
  std::shared_ptr<std::string> error_text_;        // the last failure, for UNAVAILABLE messages
};

class operations final : public operation_adapter {
 public:
  explicit operations(std::shared_ptr<consumer_hub> hub) : hub_(std::move(hub)) {}

  grpc::Status check(const v1::SendRequest& request, bool /*leased*/) const override {
    if (request.has_command()) {
      amqp::method m;
      return translate::to_method(request.command(), m);
    }
    const auto& message =
        request.has_publish() ? request.publish().message() : request.request().message();
    amqp::basic_properties ignored;
    if (auto status = translate::properties_of(message, ignored); !status.ok()) return status;
    if (request.has_request() && request.request().routing_key().empty() &&
        request.request().destination().empty()) {
      return to_status(pool::errc::invalid_operation,
                       "amqp: request.routing_key (the server's queue, on the default exchange) "
                       "or request.destination is needed");
    }
    return grpc::Status::OK;
  }

  grpc::Status check_subscribe(const v1::Subscribe& subscribe) const override {
    if (subscribe.sources().empty()) {
      return to_status(pool::errc::invalid_operation, "subscribe.sources: the queues to consume");
    }
    if (subscribe.kind() != v1::SOURCE_KIND_DEFAULT) {
      return to_status(pool::errc::invalid_operation,
                       "subscribe.kind: AMQP consumes queues (bind a queue for patterns)");
    }
    return grpc::Status::OK;
  }

  bool acknowledges(const v1::Subscribe&) const override { return true; }

  // Each stream is a consumer on a channel of its own on the target's
  // shared consumer connections.
  bool subscribes_on_a_connection() const override { return false; }
  std::size_t subscriber_connections() const override { return hub_->connections(); }

  std::shared_ptr<subscription> start_subscription(const v1::Subscribe& subscribe,
                                                   std::uint32_t credit, pool::connection*,
                                                   subscription_events events) const override {
    return hub_->subscribe(subscribe, credit, std::move(events));
  }

  // How one stream's consumer starts on a shared connection.
  static std::shared_ptr<subscription> consume_on(pool::connection& conn,
                                                  const v1::Subscribe& subscribe,
                                                  std::uint32_t credit,
                                                  subscription_events events) {
    auto& pooled = static_cast<pooled_connection&>(conn);
    return start_amqp_subscription(pooled.executor(), pooled.client().conn_ptr(), subscribe, credit,
                                   std::move(events));
  }

  bool idempotent(const v1::SendRequest& request) const override {
    return request.has_command() && translate::idempotent(request.command());
  }

  // Commands and publishes, once written, run to their answer (a channel
  // method is synchronous, a publish awaits its confirm): `cancel` leaves
  // them be and the pool drops what comes. A request awaiting its reply is
  // forgotten at once.
  void attempt(const v1::SendRequest& request, pool::connection& conn,
               boost::asio::cancellation_slot cancel, outcome_handler done) const override {
    auto& c = static_cast<pooled_connection&>(conn).client();
    if (request.has_command()) return command(c, request.command(), std::move(done));
    if (request.has_publish()) return publish(c, request.publish(), std::move(done));
    rpc(c, request.request(), cancel, std::move(done));
  }

 private:
  std::shared_ptr<consumer_hub> hub_;  // the target's shared consumer connections

  static void command(amqp::client& c, const v1::Command& command, outcome_handler done) {
    amqp::method m;
    (void)translate::to_method(command, m);  // checked by check()
    c.command(std::move(m), [done = std::move(done)](std::error_code ec, amqp::method reply,
                                                     amqp::broker_reply broker, bool written) {
      if (ec) return done(failure(ec, broker, written));
      attempt_outcome out;
      translate::to_v1(reply, *out.response.mutable_reply());
      done(std::move(out));
    });
  }

  static void publish(amqp::client& c, const v1::Publish& p, outcome_handler done) {
    amqp::basic_publish method;
    method.exchange = p.destination();
    method.routing_key = p.routing_key();
    method.mandatory = p.mandatory();
    amqp::basic_properties properties;
    (void)translate::properties_of(p.message(), properties);  // checked by check()
    auto finish = [exchange = method.exchange, done = std::move(done)](
                      std::error_code ec, amqp::broker_reply reply, bool written) {
      // The confirm channel is shared: when another publish's error closes
      // it (its exchange deleted after its check, a 403, ...), this one's
      // outcome is merely unknown.
      if (ec == protocol::errc::channel_closed && !amqp::names_exchange(reply, exchange)) {
        return done(attempt_outcome::failed(
            {make_error_code(pool::errc::outcome_unknown), pool::failure_kind::operation, true,
             "amqp: the publish channel was closed by another operation's error (" +
                 describe(reply, ec) + "); this publish may or may not have been routed"}));
      }
      if (ec) return done(failure(ec, reply, written));
      attempt_outcome out;
      out.response.mutable_published();
      done(std::move(out));
    };
    c.publish(method, properties, translate::body_of(p.message()), std::move(finish));
  }

  static void rpc(amqp::client& c, const v1::Request& r, boost::asio::cancellation_slot cancel,
                  outcome_handler done) {
    amqp::basic_publish method;
    method.exchange = r.destination();
    method.routing_key = r.routing_key();
    amqp::basic_properties properties;
    (void)translate::properties_of(r.message(), properties);  // checked by check()
    c.request(std::move(method), std::move(properties), translate::body_of(r.message()), cancel,
              [done = std::move(done)](amqp::request_outcome o) {
                if (o.ec) return done(request_failure(o));
                attempt_outcome out;
                translate::to_v1(std::move(o.reply.properties), std::move(o.reply.body),
                                 *out.response.mutable_response());
                done(std::move(out));
              });
  }
};

adapter_binding make_binding(const target_settings& target, boost::asio::any_io_executor executor) {
  // Publishes are pipelined on the confirm channel and matched by sequence
  // number; commands and requests run on channels of their own.
  constexpr std::uint32_t connection_cap = 1024;
  auto factory = std::make_shared<pooled_factory<pooled_connection>>(target, connection_cap);
  const auto& o = target.options_as<amqp_options>();
  const auto settings =
      "targets." + target.name + ".subscriber_connections x channels_per_connection";
  auto hub = std::make_shared<consumer_hub>(
      std::make_shared<const target_settings>(target), factory, std::move(executor),
      o.subscriber_connections, o.channels_per_connection, settings, operations::consume_on);
  return {factory, std::make_shared<operations>(hub), {}, hub};
}

}  // namespace

const adapter_descriptor& amqp_adapter() {
  static const adapter_descriptor descriptor{
      .name = "amqp",
      .schemes = {{.scheme = "amqp", .default_port = 5672},
                  {.scheme = "amqps", .tls = true, .default_port = 5671}},
      .read_options = read_options,
      .make = make_binding,
  };
  return descriptor;
}

}  // namespace brokerside::sidecar
