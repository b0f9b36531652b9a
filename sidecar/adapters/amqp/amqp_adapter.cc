#include "sidecar/adapters/amqp/amqp_adapter.h"

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <deque>
#include <unordered_map>

#include "pool/errc.h"
#include "protocol/amqp/connection.h"
#include "protocol/errc.h"
#include "sidecar/adapters/amqp/amqp_translate.h"
#include "sidecar/pooled_factory.h"
#include "sidecar/status.h"

namespace brokerside::sidecar {
namespace {

namespace amqp = protocol::amqp;
namespace translate = amqp_translate;
using channel_id = amqp::connection::channel_id;

// Direct reply-to: RabbitMQ's pseudo-queue for RPC replies (no declare).
constexpr std::string_view reply_queue = "amq.rabbitmq.reply-to";
// Plain channels kept open for topology commands, per connection.
constexpr std::size_t idle_command_channels = 4;

std::string describe(const amqp::broker_reply& reply, std::error_code ec) {
  if (reply.code == 0) return "amqp: " + (reply.text.empty() ? ec.message() : reply.text);
  return "amqp: " + std::to_string(reply.code) + " " + reply.text;
}

// A channel opened on demand and kept: the callers that asked while it was
// opening wait for it.
struct channel_slot {
  channel_id id = 0;  // 0: not open
  bool opening = false;
  std::deque<std::function<void(std::error_code, channel_id, amqp::broker_reply)>> waiting;
};

// A request awaiting its reply on the direct reply-to consumer.
struct pending_rpc {
  std::string callers_correlation_id;  // restored on the reply
  operation_adapter::outcome_handler done;
  bool written = false;  // published (its channel was open)
};

// Everything one pooled connection holds, shared with the callbacks that
// may outlive the pooled_connection itself. Used on the pool's strand only.
struct session : std::enable_shared_from_this<session> {
  boost::asio::any_io_executor executor;
  std::shared_ptr<amqp::connection> conn;
  std::shared_ptr<const target_settings> target;
  channel_slot publish;                               // confirm mode: publishes
  channel_slot rpc;                                   // confirm mode, consuming direct reply-to
  std::vector<channel_id> idle_commands;              // plain, free for a command
  std::unordered_map<std::string, pending_rpc> rpcs;  // by our correlation id
  std::uint64_t next_correlation = 0;
  std::string error_text;  // the last connect failure, for UNAVAILABLE messages
  bool lost = false;

  // Calls `use` with an open channel of `slot`, opening it first if needed.
  void with_channel(channel_slot& slot, bool confirms,
                    std::function<void(std::error_code, channel_id, amqp::broker_reply)> use) {
    if (slot.id != 0) return use({}, slot.id, {});
    slot.waiting.push_back(std::move(use));
    if (slot.opening) return;
    slot.opening = true;
    conn->open_channel(confirms, [self = shared_from_this(), &slot, rpc = &slot == &rpc](
                                     std::error_code ec, channel_id id, amqp::broker_reply reply) {
      if (!ec && rpc) return self->consume_replies(id);
      self->opened(slot, ec, id, std::move(reply));
    });
  }

  void opened(channel_slot& slot, std::error_code ec, channel_id id, amqp::broker_reply reply) {
    slot.opening = false;
    if (!ec) slot.id = id;
    auto waiting = std::exchange(slot.waiting, {});
    for (auto& use : waiting) use(ec, id, reply);
  }

  // The RPC channel consumes its replies before any request goes out on it.
  void consume_replies(channel_id id) {
    amqp::basic_consume consume;
    consume.queue = reply_queue;
    consume.no_ack = true;
    std::weak_ptr<session> weak = shared_from_this();
    conn->consume(
        id, consume,
        [weak](amqp::delivery d) {
          if (auto self = weak.lock()) self->reply_arrived(std::move(d));
        },
        [](std::error_code, amqp::broker_reply) {},
        [self = shared_from_this(), id](std::error_code ec, amqp::method, amqp::broker_reply r) {
          self->opened(self->rpc, ec, id, std::move(r));
        });
  }

  void reply_arrived(amqp::delivery d) {
    const auto it = rpcs.find(d.properties.correlation_id.value_or(""));
    if (it == rpcs.end()) return;  // late: its caller's deadline passed
    auto p = std::move(it->second);
    rpcs.erase(it);
    attempt_outcome out;
    auto& message = *out.response.mutable_response();
    translate::to_v1(std::move(d.properties), std::move(d.body), message);
    message.set_correlation_id(p.callers_correlation_id);
    p.done(std::move(out));
  }

  // Request `correlation` failed before its reply (if it still waits).
  void fail_rpc(const std::string& correlation, attempt_outcome outcome) {
    auto it = rpcs.find(correlation);
    if (it == rpcs.end()) return;
    auto p = std::move(it->second);
    rpcs.erase(it);
    p.done(std::move(outcome));
  }

  // The connection is gone: requests awaiting replies fail now, not at
  // their deadlines (the request was sent: the outcome is unknown).
  void fail_rpcs(std::error_code ec) {
    auto failing = std::exchange(rpcs, {});
    for (auto& [correlation, p] : failing) {
      p.done(attempt_outcome::failed({ec, pool::failure_kind::connection, p.written,
                                      "amqp: " + ec.message() + " while awaiting the reply"}));
    }
  }

  // The broker closed `id`: whatever used it opens a new one next time.
  void channel_closed(channel_id id, const amqp::broker_reply& reply) {
    if (publish.id == id) publish.id = 0;
    std::erase(idle_commands, id);
    if (rpc.id != id) return;
    rpc.id = 0;
    auto failing = std::exchange(rpcs, {});
    for (auto& [correlation, p] : failing) {
      p.done(attempt_outcome::failed({make_error_code(pool::errc::unavailable),
                                      pool::failure_kind::operation, true,
                                      describe(reply, protocol::errc::channel_closed)}));
    }
  }
};

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

class pooled_connection final : public pool::connection {
 public:
  pooled_connection(boost::asio::any_io_executor executor,
                    std::shared_ptr<const target_settings> target)
      : s_(std::make_shared<session>()) {
    s_->executor = executor;
    s_->conn = amqp::connection::create(executor);
    s_->target = std::move(target);
  }
  ~pooled_connection() override {
    s_->fail_rpcs(make_error_code(protocol::errc::aborted));
    s_->conn->close();
  }

  void connect(const pool::broker_url& url, pool::millis timeout, completion done) override {
    amqp::connect_options o;
    o.to = endpoint_for(url, *s_->target);
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
    o.max_message_bytes = s_->target->max_frame_bytes;
    auto s = s_;
    s->conn->on_channel_closed(
        [weak = std::weak_ptr<session>(s)](channel_id id, amqp::broker_reply reply) {
          if (auto self = weak.lock()) self->channel_closed(id, reply);
        });
    s->conn->connect(
        std::move(o), [s, done = std::move(done)](std::error_code ec, amqp::broker_reply reply) {
          s->error_text = ec ? describe(reply, ec) : "";
          if (ec) return done(ec);
          // The publish channel now, so the first publish does not wait for it.
          s->with_channel(s->publish, true,
                          [s, done](std::error_code ec, channel_id, amqp::broker_reply reply) {
                            if (ec) s->error_text = describe(reply, ec);
                            done(ec);
                          });
        });
  }

  // Heartbeats watch the connection; an idle one is healthy while not lost.
  void health_check(completion done) override {
    boost::asio::post(s_->executor, [s = s_, done = std::move(done)] {
      done(s->lost ? make_error_code(pool::errc::unavailable) : std::error_code{});
    });
  }

  void close() override { s_->conn->close(); }

  void on_lost(completion lost) override {
    s_->conn->on_lost([s = std::weak_ptr<session>(s_), lost = std::move(lost)](
                          std::error_code ec, amqp::broker_reply reply) {
      if (auto self = s.lock()) {
        self->lost = true;
        self->fail_rpcs(ec);
        if (reply.code != 0) self->error_text = describe(reply, ec);
      }
      lost(ec);
    });
  }

  // A broker under a resource alarm (connection.blocked) stops reading what
  // publishers send: the pool gives the connection no new work meanwhile.
  void on_write_paused(std::function<void(bool)> paused) override {
    s_->conn->on_blocked(
        [paused = std::move(paused)](bool blocked, const std::string&) { paused(blocked); });
  }

  // RabbitMQ says connection.blocked right after the handshake when an
  // alarm is in effect already, before the pool has registered above.
  bool write_paused_now() const override { return s_->conn->blocked(); }

  std::string error_text() const override { return s_->error_text; }

  session& state() { return *s_; }

 private:
  std::shared_ptr<session> s_;
};

// A consumer on a channel of a dedicated connection, settled by the stream.
class amqp_subscription final : public subscription,
                                public std::enable_shared_from_this<amqp_subscription> {
 public:
  explicit amqp_subscription(std::shared_ptr<session> s) : s_(std::move(s)) {}

  // Dropped without stop() (its connection was lost): close the channel
  // anyway, in case the connection lives on.
  ~amqp_subscription() override {
    if (stopped_) return;
    boost::asio::post(s_->executor, [s = s_, channel = channel_] {
      if (channel != 0) s->conn->close_channel(channel, [](std::error_code, amqp::broker_reply) {});
    });
  }

  // The stream has ended: channel.close goes out after every ack queued
  // before it, and once the broker confirms (close-ok) those acks are
  // settled and what was not acked is requeued; only then may the
  // connection go.
  void stop(std::function<void()> then) override {
    stopped_ = true;
    boost::asio::post(s_->executor, [self = shared_from_this(), then = std::move(then)] {
      if (self->channel_ == 0) return then();
      self->s_->conn->close_channel(self->channel_,
                                    [then](std::error_code, amqp::broker_reply) { then(); });
    });
  }

  void start(const v1::Subscribe& subscribe, std::uint32_t credit, subscription_events events) {
    events_ = std::move(events);
    sources_.assign(subscribe.sources().begin(), subscribe.sources().end());
    std::weak_ptr<amqp_subscription> weak = shared_from_this();
    s_->conn->open_channel(
        false, [weak, credit](std::error_code ec, channel_id id, amqp::broker_reply reply) {
          auto self = weak.lock();
          if (!self) return;
          if (ec) return self->refused(ec, reply);
          self->channel_ = id;
          self->s_->conn->call(id, qos_for(credit),
                               [weak](std::error_code ec, amqp::method, amqp::broker_reply r) {
                                 auto self = weak.lock();
                                 if (!self) return;
                                 if (ec) return self->refused(ec, r);
                                 for (std::size_t i = 0; i < self->sources_.size(); ++i)
                                   self->consume(i);
                               });
        });
  }

  // (Both run on gRPC threads: channel_ is read on the strand that sets it.)
  void settle(std::uint64_t tag, bool ack, bool requeue) override {
    boost::asio::post(s_->executor, [self = shared_from_this(), tag, ack, requeue] {
      if (self->channel_ == 0) return;
      if (ack) {
        self->s_->conn->ack(self->channel_, tag, false);
      } else {
        self->s_->conn->reject(self->channel_, tag, requeue);
      }
    });
  }

  void set_credit(std::uint32_t credit) override {
    boost::asio::post(s_->executor, [self = shared_from_this(), credit] {
      if (self->channel_ == 0) return;  // start() sets the credit given then; see above
      self->s_->conn->call(self->channel_, qos_for(credit),
                           [](std::error_code, amqp::method, amqp::broker_reply) {});
    });
  }

 private:
  // global: RabbitMQ then counts the credit per channel (all its consumers
  // together) and applies a change at once; without it the limit is per
  // consumer and only for consumers started later.
  static amqp::basic_qos qos_for(std::uint32_t credit) {
    amqp::basic_qos qos;
    qos.prefetch_count = static_cast<std::uint16_t>(std::min<std::uint32_t>(credit, 65535));
    qos.global = true;
    return qos;
  }

  void consume(std::size_t index) {
    amqp::basic_consume consume;
    consume.queue = sources_[index];
    std::weak_ptr<amqp_subscription> weak = shared_from_this();
    s_->conn->consume(
        channel_, consume,
        [weak, index](amqp::delivery d) {
          auto self = weak.lock();
          if (!self) return;
          v1::Delivery out;
          out.set_source(self->sources_[index]);
          out.set_exchange(std::move(d.method.exchange));
          out.set_routing_key(std::move(d.method.routing_key));
          out.set_redelivered(d.method.redelivered);
          translate::to_v1(std::move(d.properties), std::move(d.body), *out.mutable_message());
          self->events_.deliver(std::move(out), d.method.delivery_tag);
        },
        [weak, index](std::error_code ec, amqp::broker_reply reply) {
          auto self = weak.lock();
          // A lost connection is the stream's to handle: it restores the
          // subscription on a new one. Only the broker's own word ends it.
          if (!self || ec != protocol::errc::channel_closed) return;
          if (reply.code != 0) return self->refused(ec, reply);
          // basic.cancel from the broker: the queue was deleted (or moved).
          self->events_.failed(
              {grpc::StatusCode::UNAVAILABLE, "amqp: the broker cancelled the consumer of queue '" +
                                                  self->sources_[index] +
                                                  "' (deleted or moved); subscribe again"});
        },
        [weak](std::error_code ec, amqp::method, amqp::broker_reply reply) {
          auto self = weak.lock();
          if (!self) return;
          if (ec) return self->refused(ec, reply);
          if (++self->consuming == self->sources_.size()) self->events_.ready();
        });
  }

  // A broker refusal ends the stream with its status; a connection error is
  // left to the stream, which restores the subscription on a new connection.
  void refused(std::error_code ec, const amqp::broker_reply& reply) {
    if (ec != protocol::errc::channel_closed) return;
    events_.failed(to_status(translate::error_for_reply_code(reply.code), describe(reply, ec)));
  }

  std::shared_ptr<session> s_;
  subscription_events events_;
  std::vector<std::string> sources_;  // queue names
  channel_id channel_ = 0;            // set on the strand before any delivery
  std::size_t consuming = 0;          // consumers confirmed
  std::atomic<bool> stopped_{false};  // stop() was called
};

class operations final : public operation_adapter {
 public:
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

  bool acknowledges() const override { return true; }

  std::shared_ptr<subscription> start_subscription(const v1::Subscribe& subscribe,
                                                   std::uint32_t credit, pool::connection* conn,
                                                   subscription_events events) const override {
    auto sub = std::make_shared<amqp_subscription>(
        static_cast<pooled_connection&>(*conn).state().shared_from_this());
    sub->start(subscribe, credit, std::move(events));
    return sub;
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
    auto& s = static_cast<pooled_connection&>(conn).state();
    if (request.has_command()) return command(s, request.command(), std::move(done));
    if (request.has_publish()) return publish(s, request.publish(), std::move(done));
    rpc(s, request.request(), cancel, std::move(done));
  }

 private:
  static void command(session& s, const v1::Command& command, outcome_handler done) {
    amqp::method m;
    (void)translate::to_method(command, m);  // checked by check()
    auto run = [self = s.shared_from_this(), m = std::move(m), done](channel_id id) mutable {
      self->conn->call(
          id, std::move(m),
          [self, id, done](std::error_code ec, amqp::method reply, amqp::broker_reply broker) {
            if (ec == protocol::errc::field_too_long || ec == protocol::errc::nesting_too_deep) {
              self->idle_commands.push_back(id);  // nothing was sent on it
            }
            if (ec) return done(failure(ec, broker, true));
            if (self->idle_commands.size() < idle_command_channels) {
              self->idle_commands.push_back(id);
            } else {
              self->conn->close_channel(id, [](std::error_code, amqp::broker_reply) {});
            }
            attempt_outcome out;
            translate::to_v1(reply, *out.response.mutable_reply());
            done(std::move(out));
          });
    };
    if (!s.idle_commands.empty()) {
      const auto id = s.idle_commands.back();
      s.idle_commands.pop_back();
      return run(id);
    }
    s.conn->open_channel(
        false, [run = std::move(run), done = std::move(done)](std::error_code ec, channel_id id,
                                                              amqp::broker_reply reply) mutable {
          if (ec) return done(failure(ec, reply, false));
          run(id);
        });
  }
  static void publish(session& s, const v1::Publish& p, outcome_handler done) {
    amqp::basic_publish method;
    method.exchange = p.destination();
    method.routing_key = p.routing_key();
    method.mandatory = p.mandatory();
    amqp::basic_properties properties;
    (void)translate::properties_of(p.message(), properties);  // checked by check()
    auto finish = [exchange = method.exchange, done = std::move(done)](
                      std::error_code ec, amqp::broker_reply reply, bool written) {
      // The confirm channel is shared: when another publish's error closes
      // it (404 for its exchange), this one's outcome is merely unknown.
      if (ec == protocol::errc::channel_closed &&
          reply.text.find("'" + exchange + "'") == std::string::npos) {
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
    if (s.publish.id != 0) {
      // The body goes from the request straight into the connection's output.
      return s.conn->publish(s.publish.id, method, properties, translate::body_of(p.message()),
                             std::move(finish));
    }
    // The channel is (re)opening: keep a copy until it is.
    s.with_channel(
        s.publish, true,
        [self = s.shared_from_this(), method = std::move(method),
         properties = std::move(properties), body = std::string(translate::body_of(p.message())),
         finish = std::move(finish)](std::error_code ec, channel_id id,
                                     amqp::broker_reply reply) mutable {
          if (ec) return finish(ec, reply, false);
          self->conn->publish(id, method, properties, body, std::move(finish));
        });
  }

  static void rpc(session& s, const v1::Request& r, boost::asio::cancellation_slot cancel,
                  outcome_handler done) {
    amqp::basic_publish method;
    method.exchange = r.destination();
    method.routing_key = r.routing_key();
    method.mandatory = true;  // no queue to take the request: NOT_FOUND, not a wait
    amqp::basic_properties properties;
    (void)translate::properties_of(r.message(), properties);
    const auto correlation = "bs." + std::to_string(++s.next_correlation);
    properties.correlation_id = correlation;
    properties.reply_to = std::string(reply_queue);
    // Past the caller's deadline nobody waits for the reply: forget the
    // request, so a late reply is dropped.
    if (cancel.is_connected()) {
      cancel.assign([weak = std::weak_ptr<session>(s.shared_from_this()),
                     correlation](boost::asio::cancellation_type) {
        if (auto self = weak.lock()) self->rpcs.erase(correlation);
      });
    }
    s.rpcs.emplace(correlation, pending_rpc{r.message().correlation_id(), std::move(done), false});
    s.with_channel(
        s.rpc, true,
        [self = s.shared_from_this(), method = std::move(method),
         properties = std::move(properties), body = std::string(translate::body_of(r.message())),
         correlation](std::error_code ec, channel_id id, amqp::broker_reply reply) mutable {
          if (ec) return self->fail_rpc(correlation, failure(ec, reply, false));
          const auto it = self->rpcs.find(correlation);
          if (it == self->rpcs.end()) return;  // its caller gave up meanwhile
          it->second.written = true;
          self->conn->publish(id, method, properties, body,
                              [weak = std::weak_ptr<session>(self), correlation](
                                  std::error_code ec, amqp::broker_reply reply, bool written) {
                                auto self = weak.lock();
                                // Confirmed: now the reply is awaited.
                                if (ec && self) {
                                  self->fail_rpc(correlation, failure(ec, reply, written));
                                }
                              });
        });
  }
};

adapter_binding make_binding(const target_settings& target, boost::asio::any_io_executor) {
  // Publishes are pipelined on the confirm channel and matched by sequence
  // number; commands and requests run on channels of their own.
  constexpr std::uint32_t connection_cap = 1024;
  return {std::make_shared<pooled_factory<pooled_connection>>(target, connection_cap),
          std::make_shared<operations>(),
          {}};
}

}  // namespace

const adapter_descriptor& amqp_adapter() {
  static const adapter_descriptor descriptor{
      .name = "amqp",
      .schemes = {{.scheme = "amqp", .default_port = 5672},
                  {.scheme = "amqps", .tls = true, .default_port = 5671}},
      .make = make_binding,
  };
  return descriptor;
}

}  // namespace brokerside::sidecar
