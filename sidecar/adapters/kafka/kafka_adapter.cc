#include "sidecar/adapters/kafka/kafka_adapter.h"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <random>

#include "pool/errc.h"
#include "protocol/errc.h"
#include "protocol/kafka/producer.h"
#include "sidecar/adapters/kafka/dead_letters.h"
#include "sidecar/adapters/kafka/kafka_commands.h"
#include "sidecar/adapters/kafka/kafka_subscription.h"
#include "sidecar/config_section.h"
#include "sidecar/pooled_factory.h"
#include "sidecar/status.h"

namespace brokerside::sidecar {
namespace {

namespace kafka = protocol::kafka;
using std::chrono::milliseconds;

// A Kafka target's own settings (targets.<name>.acks, ...): the producer's
// settings that matter as options, anything else as librdkafka properties.
struct kafka_options final : adapter_options {
  kafka::properties producer;                    // librdkafka properties from the options, checked
  std::string sasl_mechanism = "SCRAM-SHA-512";  // with a user in the URL
  // Where a consumer group without a committed offset starts: "earliest"
  // (nothing already in the topic is missed) or "latest".
  std::string auto_offset_reset = "earliest";
  // Where a Recv nack without requeue sends the record (empty: it is
  // counted as handled and committed).
  std::string dead_letter_topic;
  // How often librdkafka reports its queues and each Recv member's lag for
  // Stats (statistics.interval.ms); 0: never.
  milliseconds statistics_interval{5000};
};

std::shared_ptr<const adapter_options> read_options(const config_section& s,
                                                    const target_settings&) {
  auto o = std::make_shared<kafka_options>();
  // Defaults that make a publish mean what the API says (confirmed, once).
  std::string acks = "all";
  bool idempotence = true;
  milliseconds linger{5};
  std::string compression = "none";
  std::uint64_t max_message_bytes = 1 << 20;
  s.read("acks", acks);
  s.read("idempotence", idempotence);
  s.read("linger", linger);
  s.read("compression", compression);
  s.read_size("max_message_bytes", max_message_bytes);
  s.read("sasl_mechanism", o->sasl_mechanism);
  s.read("auto_offset_reset", o->auto_offset_reset);
  s.read("dead_letter_topic", o->dead_letter_topic);
  s.read("statistics_interval", o->statistics_interval);
  if (o->auto_offset_reset != "earliest" && o->auto_offset_reset != "latest") {
    config_fail(s.path("auto_offset_reset"),
                "'" + o->auto_offset_reset + "' is not earliest or latest");
  }
  if (acks != "all" && acks != "1" && acks != "0") {
    config_fail(s.path("acks"), "'" + acks + "' is not all, 1 or 0");
  }
  if (idempotence && acks != "all") {
    config_fail(s.path("idempotence"), "needs acks: all (or set idempotence: false)");
  }
  if (o->sasl_mechanism != "PLAIN" && o->sasl_mechanism != "SCRAM-SHA-256" &&
      o->sasl_mechanism != "SCRAM-SHA-512") {
    config_fail(s.path("sasl_mechanism"),
                "'" + o->sasl_mechanism + "' is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512");
  }
  const std::pair<const char*, std::string> named[] = {
      {"acks", acks},
      {"idempotence", idempotence ? "true" : "false"},
      {"linger", std::to_string(linger.count())},
      {"compression", compression},
      {"max_message_bytes", std::to_string(max_message_bytes)},
  };
  const char* property_of[] = {"acks", "enable.idempotence", "linger.ms", "compression.type",
                               "message.max.bytes"};
  for (std::size_t i = 0; i < std::size(named); ++i) {
    const kafka::properties one{{property_of[i], named[i].second}};
    if (auto why = kafka::producer::check(one); !why.empty())
      config_fail(s.path(named[i].first), why);
    o->producer.push_back(one.front());
  }
  // Anything else librdkafka takes, as it names it.
  const auto extra = s.child("properties");
  if (extra.present()) {
    if (!extra.node().IsMap()) config_fail(s.path("properties"), "must be a mapping");
    for (const auto& entry : extra.node()) {
      const auto key = entry.first.as<std::string>();
      const auto value = extra.scalar(key);
      if (auto why = kafka::producer::check({{key, value}}); !why.empty()) {
        config_fail(extra.path(key), why);
      }
      o->producer.emplace_back(key, value);
    }
  }
  return o;
}

// What producers and consumers of `target` share: the bootstrap list
// (every URL of the target), SASL with the URL's user, TLS.
kafka::properties connection_settings(const target_settings& target) {
  kafka::properties p;
  std::string bootstrap;
  for (const auto& url : target.urls) {
    const auto port = url.port != 0 ? url.port : url.default_port;
    const auto host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
    bootstrap += (bootstrap.empty() ? "" : ",") + host + ":" + std::to_string(port);
  }
  p.emplace_back("bootstrap.servers", bootstrap);
  p.emplace_back("client.id", "brokerside");
  // Back within half a second of a broker's return (librdkafka's default
  // backs off up to 10 s between reconnects); `properties` may override it.
  p.emplace_back("reconnect.backoff.max.ms", "500");
  // A request goes out when it is ready, not when the last one was acked
  // (librdkafka leaves Nagle on: 5.1k against 6.9k publishes/s at 64 in
  // flight here, bench P8).
  p.emplace_back("socket.nagle.disable", "true");
  const auto& url = target.urls.front();
  const bool sasl = !url.user.empty();
  p.emplace_back("security.protocol",
                 url.tls ? (sasl ? "SASL_SSL" : "SSL") : (sasl ? "SASL_PLAINTEXT" : "PLAINTEXT"));
  const auto& o = target.options_as<kafka_options>();
  if (o.statistics_interval.count() > 0) {
    p.emplace_back("statistics.interval.ms", std::to_string(o.statistics_interval.count()));
  }
  if (sasl) {
    p.emplace_back("sasl.mechanisms", o.sasl_mechanism);
    p.emplace_back("sasl.username", url.user);
    p.emplace_back("sasl.password", url.password);
  }
  if (url.tls) {
    if (!target.tls.ca_file.empty()) p.emplace_back("ssl.ca.location", target.tls.ca_file);
    if (!target.tls.cert_file.empty()) {
      p.emplace_back("ssl.certificate.location", target.tls.cert_file);
      p.emplace_back("ssl.key.location", target.tls.key_file);
    }
    if (!target.tls.verify) p.emplace_back("enable.ssl.certificate.verification", "false");
  }
  return p;
}

// A producer's: the connection's, then the target's producer options and
// librdkafka properties.
kafka::properties producer_settings(const target_settings& target) {
  auto p = connection_settings(target);
  // A record for a topic the cluster does not know fails after this (the
  // default, 30 s, outlives most callers' deadlines); topics created
  // through Send{command} are known before it answers.
  p.emplace_back("topic.metadata.propagation.max.ms", "3000");
  const auto& o = target.options_as<kafka_options>();
  p.insert(p.end(), o.producer.begin(), o.producer.end());
  return p;
}

// A consumer's (Recv): the connection's, where a new group starts, and how
// soon a vanished member's partitions go to the others.
kafka::properties consumer_settings(const target_settings& target) {
  auto p = connection_settings(target);
  p.emplace_back("auto.offset.reset", target.options_as<kafka_options>().auto_offset_reset);
  p.emplace_back("session.timeout.ms", "10000");
  return p;
}

// A pooled Kafka "connection": one librdkafka producer, which holds its own
// connections to every broker it needs and carries any number of records.
class pooled_connection final : public pool::connection {
 public:
  pooled_connection(boost::asio::any_io_executor executor,
                    std::shared_ptr<const target_settings> target)
      : executor_(std::move(executor)), target_(std::move(target)) {}
  ~pooled_connection() override { close(); }

  void connect(const pool::broker_url&, milliseconds timeout, completion done) override {
    std::string why;
    producer_ = kafka::producer::create(executor_, producer_settings(*target_), why);
    if (!producer_) {
      *error_text_ = "kafka: " + why;
      return boost::asio::post(executor_, [done = std::move(done)] {
        done(make_error_code(protocol::errc::handshake_failed));
      });
    }
    producer_->on_log([name = target_->name](int level, const std::string& text) {
      // syslog levels: 0-3 errors, 4 warnings, the rest chatter.
      if (level <= 4) spdlog::warn("target {}: librdkafka: {}", name, text);
    });
    // The probe's own timeout may run late (librdkafka waits for a broker
    // before it starts the clock): the connect fails at `timeout` anyway.
    auto once = std::make_shared<completion>(std::move(done));
    auto timer = std::make_shared<boost::asio::steady_timer>(executor_, timeout);
    timer->async_wait([once, error_text = error_text_](boost::system::error_code ec) {
      if (ec || !*once) return;
      if (error_text->empty())
        *error_text = "kafka: no answer from the cluster within the connect timeout";
      std::exchange(*once, nullptr)(make_error_code(protocol::errc::connect_timeout));
    });
    producer_->on_error([this, once, timer](const kafka::error& e, bool fatal) {
      const auto kind = kafka::classify(e.code);
      // (librdkafka's "all brokers are down" that follows says less than
      // the refusal before it.)
      if (kind != kafka::error_kind::unavailable || error_text_->empty()) {
        *error_text_ = "kafka: " + e.text;
      }
      // A refused login or certificate does not get better by waiting (and
      // librdkafka would retry it forever): the connect fails now, saying so.
      if (*once && (kind == kafka::error_kind::authorization || kind == kafka::error_kind::tls)) {
        if (kind == kafka::error_kind::authorization && !kafka::scram_works_with_kafka_4() &&
            target_->options_as<kafka_options>().sasl_mechanism.starts_with("SCRAM")) {
          *error_text_ +=
              " (if the broker runs Kafka 4.0 or newer: this librdkafka, older than 2.6.1, cannot "
              "log in to it with SCRAM, confluentinc/librdkafka#4895; use sasl_mechanism PLAIN "
              "over TLS there)";
        }
        timer->cancel();
        return std::exchange(*once,
                             nullptr)(kind == kafka::error_kind::authorization
                                          ? make_error_code(pool::errc::access_refused)
                                          : make_error_code(protocol::errc::handshake_failed));
      }
      if (fatal && lost_)
        std::exchange(lost_, nullptr)(make_error_code(protocol::errc::broker_closed));
    });
    producer_->probe(timeout, [once, timer, error_text = error_text_](kafka::error e) {
      timer->cancel();
      if (!*once) return;
      if (e) *error_text = "kafka: no answer from the cluster: " + e.text;
      std::exchange(
          *once, nullptr)(e ? make_error_code(protocol::errc::connect_timeout) : std::error_code());
    });
  }

  // The cluster still answers.
  void health_check(completion done) override {
    if (!producer_) return done(make_error_code(protocol::errc::aborted));
    producer_->probe(target_->pool.connect_timeout, [done = std::move(done)](kafka::error e) {
      done(e ? make_error_code(protocol::errc::connect_timeout) : std::error_code());
    });
  }

  void close() override {
    if (producer_) producer_->close();
    if (txn_) txn_->close();  // (aborting its open transaction)
  }
  // A connection that ran transactions holds a transactional producer:
  // not for other callers.
  bool reusable_after_lease() const override { return !txn_; }
  std::uint64_t queued() const override {
    return (producer_ ? producer_->last_statistics().queued : 0) +
           (txn_ ? txn_->last_statistics().queued : 0);
  }
  // librdkafka reconnects to brokers itself; only a fatal error loses it.
  void on_lost(completion lost) override { lost_ = std::move(lost); }
  std::string error_text() const override { return *error_text_; }

  kafka::producer& producer() { return *producer_; }
  // Where a publish goes: the lease's transactional producer while a
  // transaction is open, else the connection's own.
  const std::shared_ptr<kafka::producer>& producer_for_publish() const {
    return txn_ && txn_->in_transaction() ? txn_ : producer_;
  }

  // txn.begin / txn.commit / txn.abort on a lease: done(outcome) once, on
  // the executor. The first txn.begin makes the connection's transactional
  // producer (its own transactional.id) and registers it with the cluster.
  void transaction(const std::string& verb, operation_adapter::outcome_handler done) {
    const milliseconds timeout{30'000};
    auto answer = [done](kafka::error e) {
      if (e) return done(kafka_failure(e, false, ""));
      attempt_outcome out;
      out.response.mutable_reply()->set_text("OK");
      done(std::move(out));
    };
    auto refuse = [this, done](std::string text) {
      boost::asio::post(executor_, [done, text = std::move(text)] {
        done(attempt_outcome::failed({make_error_code(pool::errc::broker_refused),
                                      pool::failure_kind::operation, false, "kafka: " + text}));
      });
    };
    const bool open = txn_ && txn_->in_transaction();
    if (verb == "txn.begin") {
      if (open) return refuse("a transaction is open on this lease already: commit or abort it");
      if (txn_) {
        return boost::asio::post(executor_, [answer, e = txn_->begin_transaction()] { answer(e); });
      }
      std::string why;
      auto settings = producer_settings(*target_);
      settings.emplace_back("transactional.id", transactional_id());
      txn_ = kafka::producer::create(executor_, settings, why);
      if (!txn_) return refuse("cannot make a transactional producer: " + why);
      txn_->on_log([name = target_->name](int level, const std::string& text) {
        if (level <= 4) spdlog::warn("target {}: librdkafka (transactions): {}", name, text);
      });
      return txn_->init_transactions(timeout,
                                     [this, weak = std::weak_ptr(txn_), answer](kafka::error e) {
                                       // (Only this connection holds it: alive, so is the
                                       // connection.)
                                       auto txn = weak.lock();
                                       if (!txn) return answer(kafka::closed_error());
                                       if (!e) e = txn->begin_transaction();
                                       if (e && txn_ == txn)
                                         std::exchange(txn_, nullptr)->close();  // not registered
                                       answer(e);
                                     });
    }
    if (!open) return refuse("no transaction is open on this lease: txn.begin first");
    if (verb == "txn.commit") return txn_->commit_transaction(timeout, answer);
    txn_->abort_transaction(timeout, answer);
  }

 private:
  boost::asio::any_io_executor executor_;
  std::shared_ptr<const target_settings> target_;
  // "brokerside-<target>-<random>": one per connection, so no two
  // transactional producers fence each other.
  std::string transactional_id() const {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    return fmt::format("brokerside-{}-{:016x}", target_->name, rng());
  }

  std::shared_ptr<kafka::producer> producer_;
  std::shared_ptr<kafka::producer> txn_;  // made by a lease's first txn.begin
  completion lost_;
  std::shared_ptr<std::string> error_text_ = std::make_shared<std::string>();
};

class operations final : public operation_adapter {
 public:
  operations(boost::asio::any_io_executor executor, kafka::properties consumer,
             std::shared_ptr<dead_letters> dead_letter)
      : executor_(std::move(executor)),
        consumer_(std::move(consumer)),
        dead_letter_(std::move(dead_letter)) {}

  grpc::Status check_subscribe(const v1::Subscribe& subscribe) const override {
    if (subscribe.group().empty()) {
      return kafka_invalid("subscribe.group: a Kafka consumer group is required");
    }
    if (subscribe.sources().empty()) return kafka_invalid("subscribe.sources: the topics");
    for (const auto& s : subscribe.sources()) {
      if (s.empty()) return kafka_invalid("subscribe.sources: a topic name must not be empty");
    }
    if (subscribe.kind() == v1::SOURCE_KIND_SHARD) {
      return kafka_invalid("subscribe.kind: topics (default) or regular expressions (pattern)");
    }
    return grpc::Status::OK;
  }
  // Acks commit offsets; the credit pauses the partitions.
  bool acknowledges(const v1::Subscribe&) const override { return true; }
  // A group member of its own per stream, not a pooled producer.
  bool subscribes_on_a_connection() const override { return false; }
  std::shared_ptr<subscription> start_subscription(const v1::Subscribe& subscribe,
                                                   std::uint32_t credit, pool::connection*,
                                                   subscription_events events) const override {
    return start_kafka_subscription(boost::asio::make_strand(executor_), consumer_, dead_letter_,
                                    subscribe, credit, std::move(events));
  }

  grpc::Status check(const v1::SendRequest& request, bool leased) const override {
    if (request.has_request())
      return kafka_invalid("request/reply has no meaning on Kafka: publish");
    if (request.has_command()) {
      const auto& a = request.command().args();
      if (!a[0].starts_with("txn.")) return check_kafka_command(request.command());
      if (a.size() != 1 || (a[0] != "txn.begin" && a[0] != "txn.commit" && a[0] != "txn.abort")) {
        return kafka_invalid("command: [\"txn.begin\"], [\"txn.commit\"] or [\"txn.abort\"]");
      }
      if (!leased) {
        return to_status(
            pool::errc::needs_lease,
            "kafka: a transaction runs on a lease: Acquire one, then send '" + a[0] + "' with it");
      }
      return grpc::Status::OK;
    }
    const auto& p = request.publish();
    if (p.destination().empty()) return kafka_invalid("publish.destination: the topic is required");
    if (p.has_partition() && p.partition() < -1) {
      return kafka_invalid(
          "publish.partition: a partition number, or -1 for the partitioner's choice");
    }
    if (p.message().has_value()) {
      return kafka_invalid(
          "publish.message: Kafka records are bytes: give body or json, not value");
    }
    for (const auto& [key, value] : p.message().headers()) {
      if (!value.has_text() && !value.has_bytes()) {
        return kafka_invalid("message.headers['" + key +
                             "']: Kafka header values are text or bytes");
      }
    }
    return grpc::Status::OK;
  }

  // A record's outcome is unknown when its producer goes (librdkafka
  // retries on its own, idempotently by default); topic commands are not
  // repeatable either.
  bool idempotent(const v1::SendRequest&) const override { return false; }

  void attempt(const v1::SendRequest& request, pool::connection& conn,
               boost::asio::cancellation_slot cancel, outcome_handler done) const override {
    auto& c = static_cast<pooled_connection&>(conn);
    if (request.has_command()) {
      const auto& verb = request.command().args(0);
      if (verb.starts_with("txn.")) return c.transaction(verb, std::move(done));
      return run_kafka_command(c.producer(), request.command(), std::move(done));
    }
    const auto& p = request.publish();
    kafka::record r;
    r.topic = p.destination();
    const auto& m = p.message();
    r.value = m.has_json() ? m.json() : m.body();
    if (!m.key().empty()) r.key = m.key();
    for (const auto& [key, value] : m.headers()) {
      r.headers.emplace_back(key, value.has_text() ? value.text() : value.bytes());
    }
    if (!m.message_id().empty()) r.headers.emplace_back("message_id", m.message_id());
    if (p.has_partition()) r.partition = p.partition();
    const auto& producer = c.producer_for_publish();
    const auto token =
        producer->produce(r, [done = std::move(done), topic = r.topic](kafka::delivery d) {
          if (d.failure) return done(kafka_failure(d.failure, d.maybe_written, topic));
          attempt_outcome out;
          auto& ack = *out.response.mutable_published();
          ack.set_partition(d.partition);
          ack.set_offset(d.offset);
          done(std::move(out));
        });
    // The caller's deadline: its completion is dropped; the record may
    // still be written (DEADLINE_EXCEEDED: outcome unknown).
    if (token != 0 && cancel.is_connected()) {
      cancel.assign(
          [weak = std::weak_ptr<kafka::producer>(producer), token](boost::asio::cancellation_type) {
            if (auto p = weak.lock()) p->forget(token);
          });
    }
  }

 private:
  boost::asio::any_io_executor executor_;      // the target's; each Recv gets a strand of it
  kafka::properties consumer_;                 // consumer_settings
  std::shared_ptr<dead_letters> dead_letter_;  // null without a dead_letter_topic
};

adapter_binding make_binding(const target_settings& target, boost::asio::any_io_executor executor) {
  // One producer carries everything; the pool opens another only past this.
  constexpr std::uint32_t connection_cap = 100'000;
  std::shared_ptr<dead_letters> dead_letter;
  if (const auto& topic = target.options_as<kafka_options>().dead_letter_topic; !topic.empty()) {
    dead_letter =
        std::make_shared<dead_letters>(executor, target.name, producer_settings(target), topic);
  }
  return {std::make_shared<pooled_factory<pooled_connection>>(target, connection_cap),
          std::make_shared<operations>(executor, consumer_settings(target), dead_letter),
          {},
          dead_letter};
}

}  // namespace

const adapter_descriptor& kafka_adapter() {
  static const adapter_descriptor descriptor{
      .name = "kafka",
      .schemes = {{.scheme = "kafka", .default_port = 9092},
                  {.scheme = "kafkas", .tls = true, .default_port = 9093}},
      .read_options = read_options,
      .make = make_binding,
  };
  return descriptor;
}

}  // namespace brokerside::sidecar
