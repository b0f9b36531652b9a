#include "sidecar/adapters/nats/nats_adapter.h"

#include <boost/asio/post.hpp>
#include <cctype>
#include <sstream>

#include "pool/errc.h"
#include "protocol/errc.h"
#include "protocol/nats/connection.h"
#include "sidecar/adapters/nats/nats_jetstream.h"
#include "sidecar/adapters/nats/nats_message.h"
#include "sidecar/adapters/nats/nats_pull_subscription.h"
#include "sidecar/config_section.h"
#include "sidecar/consumer_hub.h"
#include "sidecar/pooled_factory.h"
#include "sidecar/status.h"

namespace brokerside::sidecar {
namespace {

namespace nats = protocol::nats;
using pool::failure_kind;
using json = nlohmann::json;
using nats_message::headers_of;
using nats_message::payload_of;
using nats_message::to_v1;

// A NATS target's own settings (targets.<name>.jetstream, .nkey_seed_file).
struct nats_options final : adapter_options {
  // Publishes go to JetStream: each waits for its stream's PubAck (stream
  // and sequence in PublishAck) instead of a flush; Recv pulls from
  // JetStream consumers.
  bool jetstream = false;
  // A user's NKEY seed (from nkey_seed_file): CONNECT then carries its
  // public key and the server's nonce signed with it.
  std::optional<nats::nkey_seed> nkey;
  // Core subscriptions (Recv streams of a target without jetstream) share
  // at most this many connections outside the pool (sidecar/consumer_hub.h)...
  std::uint32_t subscriber_connections = 4;
  // ... each carrying at most this many streams.
  std::uint32_t streams_per_connection = 1024;
};

std::shared_ptr<const adapter_options> read_options(const config_section& s,
                                                    const target_settings&) {
  auto o = std::make_shared<nats_options>();
  s.read("jetstream", o->jetstream);
  s.read("subscriber_connections", o->subscriber_connections, 1, 1024);
  s.read("streams_per_connection", o->streams_per_connection, 1, 65536);
  std::string seed_file;
  s.read("nkey_seed_file", seed_file);
  if (!seed_file.empty()) {
    const auto path = s.path("nkey_seed_file");
    auto text = read_secret_file(path, seed_file);
    // As `nk -gen user` writes it: the seed, perhaps among other lines.
    std::string seed;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
        line.pop_back();
      if (line.starts_with("SU")) seed = line;
    }
    nats::nkey_seed parsed;
    if (seed.empty() || nats::decode_nkey_seed(seed, parsed)) {
      config_fail(path,
                  "'" + seed_file + "' holds no NATS user seed (a line \"SU...\" of 58 letters)");
    }
    o->nkey = parsed;
  }
  return o;
}

// A pooled NATS connection: the pool's view of protocol::nats::connection.
class pooled_connection final : public pool::connection {
 public:
  pooled_connection(boost::asio::any_io_executor executor,
                    std::shared_ptr<const target_settings> target)
      : executor_(executor),
        conn_(nats::connection::create(std::move(executor))),
        target_(std::move(target)) {}
  ~pooled_connection() override { conn_->close(); }

  void connect(const pool::broker_url& url, pool::millis timeout, completion done) override {
    nats::connect_options o;
    o.to = endpoint_for(url, *target_);
    // nats://user:pass@host; a token as nats://token@host (a user and no
    // password) or as a password without a user (password_file /
    // password_env keep it out of the URL).
    if (!url.user.empty() && url.password.empty()) {
      o.handshake.token = url.user;
    } else if (url.user.empty() && !url.password.empty()) {
      o.handshake.token = url.password;
    } else {
      o.handshake.user = url.user;
      o.handshake.password = url.password;
    }
    o.handshake.name = std::string(url.option("name").value_or("brokerside"));
    o.handshake.nkey = target_->options_as<nats_options>().nkey;
    o.timeout = timeout;
    o.limits.max_payload = static_cast<std::size_t>(target_->max_frame_bytes);
    o.write_high_water = static_cast<std::size_t>(target_->write_high_water);
    o.write_low_water = static_cast<std::size_t>(target_->write_low_water);
    conn_->connect(std::move(o), [error_text = error_text_, done = std::move(done)](
                                     std::error_code ec, std::string text) {
      *error_text = ec ? "nats: " + (text.empty() ? ec.message() : text) : "";
      done(connect_error(ec));
    });
  }

  // PING / PONG: the server answers once it has read everything before.
  void health_check(completion done) override {
    conn_->ping(
        [done = std::move(done)](std::error_code ec, bool, const std::string&) { done(ec); });
  }

  void close() override { conn_->close(); }
  void on_lost(completion lost) override {
    conn_->on_lost([error_text = error_text_, weak = std::weak_ptr<nats::connection>(conn_),
                    lost = std::move(lost)](std::error_code ec) {
      // The -ERR that came before the server closed it says why.
      if (auto c = weak.lock(); c && !c->last_error().empty()) {
        *error_text = "nats: " + c->last_error();
      }
      lost(ec);
    });
  }
  void on_write_paused(std::function<void(bool)> paused) override {
    conn_->on_write_paused(std::move(paused));
  }

  // A server in lame-duck mode is about to close its connections: the pool
  // moves work elsewhere first. The cluster's other servers (INFO
  // connect_urls) are failover candidates.
  void on_retire(std::function<void()> retire) override { conn_->on_lame_duck(std::move(retire)); }
  std::vector<std::string> peers() const override { return conn_->info().connect_urls; }

  std::string error_text() const override { return *error_text_; }

  nats::connection& nats() { return *conn_; }
  const std::shared_ptr<nats::connection>& nats_ptr() const { return conn_; }
  const boost::asio::any_io_executor& executor() const { return executor_; }

 private:
  boost::asio::any_io_executor executor_;  // the connection's (the pool's strand)
  std::shared_ptr<nats::connection> conn_;
  std::shared_ptr<const target_settings> target_;  // URLs, TLS, limits
  std::shared_ptr<std::string> error_text_ =
      std::make_shared<std::string>();  // last connect failure or loss
};

grpc::Status invalid(std::string text) {
  return to_status(pool::errc::invalid_operation, "nats: " + std::move(text));
}

class operations final : public operation_adapter {
 public:
  operations(bool jetstream, std::shared_ptr<consumer_hub> hub)
      : jetstream_(jetstream), hub_(std::move(hub)) {}

  grpc::Status check(const v1::SendRequest& request, bool /*leased*/) const override {
    if (request.has_command()) return check_api_call(request.command());
    const bool publish = request.has_publish();
    const auto& subject =
        publish ? request.publish().destination() : request.request().destination();
    const auto& message = publish ? request.publish().message() : request.request().message();
    const auto* field = publish ? "publish" : "request";
    if (!nats::valid_subject(subject)) {
      return invalid(std::string(field) + ".destination: '" + subject +
                     "' is not a NATS subject (tokens separated by '.', no spaces)");
    }
    if (message.has_value()) {
      return invalid(std::string(field) +
                     ".message: NATS messages are bytes: give body or json, not value");
    }
    std::string headers;
    return headers_of(message, headers);
  }

  bool idempotent(const v1::SendRequest&) const override { return false; }

  grpc::Status check_subscribe(const v1::Subscribe& subscribe) const override {
    if (subscribe.sources().empty()) {
      return invalid("subscribe.sources: the subjects (wildcards * and > allowed)");
    }
    for (const auto& subject : subscribe.sources()) {
      if (!nats::valid_subject(subject)) {
        return invalid("subscribe.sources: '" + subject + "' is not a NATS subject");
      }
    }
    if (subscribe.kind() != v1::SOURCE_KIND_DEFAULT) {
      return invalid("subscribe.kind: NATS subjects carry their own wildcards; leave it default");
    }
    if (jetstream_) return check_consumer(subscribe);
    if (!subscribe.group().empty() && !nats::valid_subject(subscribe.group())) {
      return invalid("subscribe.group: '" + subscribe.group() + "' is not a NATS queue group name");
    }
    return grpc::Status::OK;
  }

  // A JetStream target consumes through pull consumers, acknowledged.
  bool acknowledges(const v1::Subscribe&) const override { return jetstream_; }

  // Every stream on the target's shared subscriber connections, its own
  // SIDs on one of them. JetStream: pull consumers
  // (nats_pull_subscription.h), acknowledged. Core NATS: subscriptions with
  // no acknowledgements and no flow control: deliveries are at most once,
  // and a slow stream drops (and reports) what does not fit its credit. The
  // connection keeps reading, so the server never sees a slow consumer.
  bool subscribes_on_a_connection() const override { return false; }
  std::size_t subscriber_connections() const override { return hub_->connections(); }

  std::shared_ptr<subscription> start_subscription(const v1::Subscribe& subscribe,
                                                   std::uint32_t credit, pool::connection*,
                                                   subscription_events events) const override {
    return hub_->subscribe(subscribe, credit, std::move(events));
  }

  // How one stream starts on a shared connection.
  static consumer_hub::start_fn starter(bool jetstream) {
    if (!jetstream) return subscribe_on;
    return [](pool::connection& conn, const v1::Subscribe& subscribe, std::uint32_t credit,
              subscription_events events) {
      auto& pooled = static_cast<pooled_connection&>(conn);
      return start_nats_pull_subscription(pooled.executor(), pooled.nats_ptr(), subscribe, credit,
                                          {}, std::move(events));
    };
  }

  // One stream's core subscriptions on a shared connection: its SIDs,
  // unsubscribed when it stops (the connection serves the others on).
  class core_subscription final : public subscription {
   public:
    core_subscription(boost::asio::any_io_executor executor, std::shared_ptr<nats::connection> conn)
        : executor_(std::move(executor)), conn_(std::move(conn)) {}
    // Dropped without stop() (any thread): unsubscribe on the executor.
    ~core_subscription() override {
      if (sids_.empty()) return;
      boost::asio::post(executor_, [conn = conn_, sids = std::move(sids_)] {
        for (const auto sid : sids) conn->unsubscribe(sid);
      });
    }

    void settle(std::uint64_t, bool, bool) override {}  // core NATS has no acks
    void set_credit(std::uint32_t) override {}          // the stream's buffer bounds it
    // (On the connection's executor, as the hub calls it.)
    void stop(std::function<void()> then) override {
      for (const auto sid : std::exchange(sids_, {})) conn_->unsubscribe(sid);
      then();
    }

    std::vector<std::uint64_t> sids_;  // set once subscribed

   private:
    boost::asio::any_io_executor executor_;
    std::shared_ptr<nats::connection> conn_;
  };

  static std::shared_ptr<subscription> subscribe_on(pool::connection& conn,
                                                    const v1::Subscribe& subscribe, std::uint32_t,
                                                    subscription_events events) {
    auto& pooled = static_cast<pooled_connection&>(conn);
    auto sub = std::make_shared<core_subscription>(pooled.executor(), pooled.nats_ptr());
    const std::vector<std::string> subjects(subscribe.sources().begin(), subscribe.sources().end());
    sub->sids_ = pooled.nats().subscribe(
        subjects, subscribe.group(),
        [events](nats::msg m) {
          v1::Delivery d;
          d.set_source(m.subject);
          to_v1(std::move(m), *d.mutable_message());
          events.deliver(std::move(d), 0);
        },
        [events](const std::string& text) {
          events.failed(to_status(pool::errc::access_refused, "nats: " + text));
        },
        [events](std::error_code ec, bool, const std::string&) {
          if (!ec) events.ready();  // a lost connection is the hub's to restore
        });
    return sub;
  }

  void attempt(const v1::SendRequest& request, pool::connection& conn,
               boost::asio::cancellation_slot cancel, outcome_handler done) const override {
    auto& c = static_cast<pooled_connection&>(conn).nats();
    if (request.has_command()) return api_call(c, request.command(), cancel, std::move(done));
    const bool publish = request.has_publish();
    const auto& subject =
        publish ? request.publish().destination() : request.request().destination();
    const auto& message = publish ? request.publish().message() : request.request().message();
    std::string headers;
    (void)headers_of(message, headers);  // checked by check()
    if (publish && jetstream_) {
      return stream_publish(c, subject, headers, payload_of(message), cancel, std::move(done));
    }
    if (publish) {
      c.publish(subject, headers, payload_of(message),
                [done = std::move(done), max = c.info().max_payload](
                    std::error_code ec, bool written, const std::string& text) {
                  if (ec) return done(failure(ec, written, text, max));
                  attempt_outcome out;
                  out.response.mutable_published();
                  done(std::move(out));
                });
      return;
    }
    request_reply(c, subject, headers, payload_of(message), cancel,
                  [done = std::move(done), subject, max = c.info().max_payload](
                      std::error_code ec, nats::msg reply, bool written) {
                    if (ec == protocol::errc::refused) {
                      return done(attempt_outcome::failed(
                          {make_error_code(pool::errc::unavailable), failure_kind::operation, true,
                           "nats: no responders for '" + subject + "'"}));
                    }
                    if (ec) return done(failure(ec, written, {}, max));
                    attempt_outcome out;
                    to_v1(std::move(reply), *out.response.mutable_response());
                    done(std::move(out));
                  });
  }

 private:
  // Subscribe.group is the durable consumer's name (which filters one
  // subject); without one each subject gets an ephemeral consumer.
  static grpc::Status check_consumer(const v1::Subscribe& subscribe) {
    const auto& group = subscribe.group();
    if (group.empty()) return grpc::Status::OK;
    if (group.find_first_of(".*> \t\r\n") != std::string::npos) {
      return invalid("subscribe.group: '" + group +
                     "' is not a JetStream durable name (no '.', '*', '>' or whitespace)");
    }
    if (subscribe.sources_size() > 1) {
      return invalid(
          "subscribe.group: a durable JetStream consumer filters one subject; give one source or "
          "no group");
    }
    return grpc::Status::OK;
  }

  // command: a JetStream API call (the proto's Command comment).
  static grpc::Status check_api_call(const v1::Command& command) {
    const auto& args = command.args();
    if (args.size() > 2 || !command.options().empty()) {
      return invalid(
          "command: a JetStream API subject after \"$JS.API.\" and, if it takes one, the "
          "request's JSON (no options)");
    }
    if (!nats::valid_subject("$JS.API." + args[0])) {
      return invalid("command.args[0]: '" + args[0] + "' is not a JetStream API subject");
    }
    if (args.size() == 2 && !json::parse(args[1], nullptr, false).is_object()) {
      return invalid("command.args[1]: the request must be a JSON object");
    }
    return grpc::Status::OK;
  }

  // A request whose reply comes to `answered`; the caller's deadline
  // (`cancel`) forgets it, so a late reply is dropped.
  static void request_reply(nats::connection& c, const std::string& subject,
                            std::string_view headers, std::string_view payload,
                            boost::asio::cancellation_slot cancel,
                            nats::connection::reply_handler answered) {
    std::uint64_t token = 0;
    c.request(subject, headers, payload, std::move(answered), token);
    if (token != 0 && cancel.is_connected()) {
      cancel.assign([weak = std::weak_ptr<nats::connection>(c.shared_from_this()),
                     token](boost::asio::cancellation_type) {
        if (auto c = weak.lock()) c->forget(token);
      });
    }
  }

  // A JetStream publish: a request to the subject, answered by the PubAck
  // of the stream that takes it (or its error); no stream: NOT_FOUND.
  static void stream_publish(nats::connection& c, const std::string& subject,
                             std::string_view headers, std::string_view payload,
                             boost::asio::cancellation_slot cancel, outcome_handler done) {
    request_reply(
        c, subject, headers, payload, cancel,
        [done = std::move(done), subject, max = c.info().max_payload](
            std::error_code ec, nats::msg reply, bool written) {
          if (ec == protocol::errc::refused) {
            return done(attempt_outcome::failed(
                {make_error_code(pool::errc::not_found_at_broker), failure_kind::operation, true,
                 "nats: no JetStream stream takes subject '" + subject + "' (no responders)"}));
          }
          if (ec) return done(failure(ec, written, {}, max));
          json ack;
          if (auto failed = nats_jetstream::parse(reply.payload, ack)) {
            return done(std::move(*failed));
          }
          attempt_outcome out;
          auto& published = *out.response.mutable_published();
          published.set_stream(ack.value("stream", std::string()));
          published.set_offset(ack.value("seq", std::int64_t{0}));
          published.set_duplicate(ack.value("duplicate", false));
          done(std::move(out));
        });
  }

  // A JetStream API call: a request to $JS.API.<args[0]>, its JSON answer
  // as a Value.
  static void api_call(nats::connection& c, const v1::Command& command,
                       boost::asio::cancellation_slot cancel, outcome_handler done) {
    const std::string body = command.args_size() == 2 ? command.args(1) : std::string();
    request_reply(c, "$JS.API." + command.args(0), {}, body, cancel,
                  [done = std::move(done)](std::error_code ec, nats::msg reply, bool written) {
                    if (ec == protocol::errc::refused) {
                      return done(attempt_outcome::failed(
                          {make_error_code(pool::errc::unavailable), failure_kind::operation, true,
                           "nats: no responders for the JetStream API: is JetStream enabled on the "
                           "server?"}));
                    }
                    if (ec) return done(failure(ec, written, {}, 0));
                    json answer;
                    if (auto failed = nats_jetstream::parse(reply.payload, answer)) {
                      return done(std::move(*failed));
                    }
                    attempt_outcome out;
                    nats_jetstream::to_v1(answer, *out.response.mutable_reply());
                    done(std::move(out));
                  });
  }

  static attempt_outcome failure(std::error_code ec, bool written, const std::string& text,
                                 std::uint64_t max_payload) {
    if (ec == protocol::errc::frame_too_large) {
      return attempt_outcome::failed(
          {make_error_code(pool::errc::invalid_operation), failure_kind::operation, false,
           "nats: the message is larger than the server's max_payload (" +
               std::to_string(max_payload) + " bytes, headers included)"});
    }
    if (ec == protocol::errc::unsupported) {
      return attempt_outcome::failed({make_error_code(pool::errc::invalid_operation),
                                      failure_kind::operation, false,
                                      "nats: the server does not support headers"});
    }
    if (ec == protocol::errc::refused) {
      return attempt_outcome::failed({make_error_code(pool::errc::access_refused),
                                      failure_kind::operation, true, "nats: " + text});
    }
    return attempt_outcome::failed(
        {ec, failure_kind::connection, written, "nats: " + ec.message()});
  }

  bool jetstream_;                     // publishes wait for their stream's PubAck
  std::shared_ptr<consumer_hub> hub_;  // core subscriptions' shared connections
};

adapter_binding make_binding(const target_settings& target, boost::asio::any_io_executor executor) {
  // Publishes and requests pipeline on one connection (PONGs in order,
  // replies by token).
  constexpr std::uint32_t connection_cap = 1024;
  auto factory = std::make_shared<pooled_factory<pooled_connection>>(target, connection_cap);
  const auto& o = target.options_as<nats_options>();
  auto hub = std::make_shared<consumer_hub>(
      std::make_shared<const target_settings>(target), factory, std::move(executor),
      o.subscriber_connections, o.streams_per_connection,
      "targets." + target.name + ".subscriber_connections x streams_per_connection",
      operations::starter(o.jetstream));
  return {factory, std::make_shared<operations>(o.jetstream, hub), {}, hub};
}

}  // namespace

const adapter_descriptor& nats_adapter() {
  static const adapter_descriptor descriptor{
      .name = "nats",
      // nats://token@host: the token is redacted as a password would be.
      .schemes =
          {{.scheme = "nats", .default_port = 4222, .user_alone_is_secret = true},
           {.scheme = "tls", .tls = true, .default_port = 4222, .user_alone_is_secret = true}},
      .read_options = read_options,
      .make = make_binding,
  };
  return descriptor;
}

}  // namespace brokerside::sidecar
