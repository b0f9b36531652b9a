#include "sidecar/adapters/kafka/kafka_commands.h"

#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>

#include "pool/errc.h"
#include "protocol/errc.h"
#include "sidecar/status.h"

namespace brokerside::sidecar {
namespace {

namespace kafka = protocol::kafka;
using pool::failure_kind;

// Admin calls wait this long for the cluster (the caller's deadline still
// ends the call first).
constexpr std::chrono::milliseconds admin_timeout{30'000};

struct shape {
  const char* verb;
  int min_args, max_args;  // counting the verb
  const char* usage;
};
constexpr shape shapes[] = {
    {"topic.create", 2, 4, "[\"topic.create\", name, partitions?, replication_factor?]"},
    {"topic.delete", 2, 2, "[\"topic.delete\", name]"},
    {"topic.describe", 2, 2, "[\"topic.describe\", name]"},
    {"metadata", 1, 1, "[\"metadata\"]"},
    {"offsets", 2, 2, "[\"offsets\", topic]"},
    {"group.lag", 2, 3, "[\"group.lag\", group, topic?]"},
};

v1::Value text(std::string s) {
  v1::Value v;
  v.set_text(std::move(s));
  return v;
}
v1::Value integer(std::int64_t n) {
  v1::Value v;
  v.set_integer(n);
  return v;
}
v1::Value integers(const std::vector<std::int32_t>& ns) {
  v1::Value v;
  auto& a = *v.mutable_array();
  for (const auto n : ns) *a.add_values() = integer(n);
  return v;
}
// A map from text keys, in the order given.
v1::Value map(std::initializer_list<std::pair<const char*, v1::Value>> entries) {
  v1::Value v;
  auto& m = *v.mutable_map();
  for (const auto& [key, value] : entries) {
    auto& e = *m.add_entries();
    *e.mutable_key() = text(key);
    *e.mutable_value() = value;
  }
  return v;
}

v1::Value partitions_of(const kafka::topic_info& t) {
  v1::Value v;
  auto& a = *v.mutable_array();
  for (const auto& p : t.partitions) {
    *a.add_values() = map({{"partition", integer(p.id)},
                           {"leader", integer(p.leader)},
                           {"replicas", integers(p.replicas)},
                           {"in_sync", integers(p.in_sync)}});
  }
  return v;
}

attempt_outcome answer(v1::Value reply) {
  attempt_outcome out;
  *out.response.mutable_reply() = std::move(reply);
  return out;
}

void describe(kafka::producer& producer, const std::string& name,
              operation_adapter::outcome_handler done) {
  auto weak = producer.weak_from_this();
  producer.metadata(name, admin_timeout, [weak, name, done](kafka::error e, kafka::cluster_info c) {
    auto self = weak.lock();
    if (!e && !self) e = kafka::closed_error();
    if (e) return done(kafka_failure(e, false, name));
    self->topic_configs(
        name, admin_timeout,
        [name, done, partitions = partitions_of(c.topics.front())](
            kafka::error e, std::vector<std::pair<std::string, std::string>> cs) {
          if (e) return done(kafka_failure(e, false, name));
          v1::Value configs;
          auto& m = *configs.mutable_map();
          for (auto& [key, value] : cs) {
            auto& entry = *m.add_entries();
            *entry.mutable_key() = text(key);
            *entry.mutable_value() = text(value);
          }
          done(answer(
              map({{"name", text(name)}, {"partitions", partitions}, {"configs", configs}})));
        });
  });
}

void metadata(kafka::producer& producer, operation_adapter::outcome_handler done) {
  producer.metadata({}, admin_timeout, [done](kafka::error e, kafka::cluster_info c) {
    if (e) return done(kafka_failure(e, false, ""));
    v1::Value brokers, topics;
    for (const auto& b : c.brokers) {
      *brokers.mutable_array()->add_values() =
          map({{"id", integer(b.id)}, {"host", text(b.host)}, {"port", integer(b.port)}});
    }
    for (const auto& t : c.topics) {
      *topics.mutable_array()->add_values() =
          map({{"name", text(t.name)}, {"partitions", partitions_of(t)}});
    }
    brokers.mutable_array();
    topics.mutable_array();
    done(answer(map({{"brokers", brokers}, {"topics", topics}})));
  });
}

void offsets(kafka::producer& producer, const std::string& topic,
             operation_adapter::outcome_handler done) {
  producer.watermarks_of(topic, admin_timeout,
                         [done, topic](kafka::error e, std::vector<kafka::watermarks> marks) {
                           if (e) return done(kafka_failure(e, false, topic));
                           v1::Value v;
                           auto& a = *v.mutable_array();
                           for (const auto& w : marks) {
                             if (w.failure) return done(kafka_failure(w.failure, false, topic));
                             *a.add_values() = map({{"partition", integer(w.partition)},
                                                    {"low", integer(w.low)},
                                                    {"high", integer(w.high)}});
                           }
                           done(answer(std::move(v)));
                         });
}

// A group's lag per partition: the high watermark less its committed
// offset (less the low watermark where it committed nothing: all of it).
void group_lag(kafka::producer& producer, const std::string& group, const std::string& only,
               operation_adapter::outcome_handler done) {
  auto weak = producer.weak_from_this();
  producer.committed(
      group, admin_timeout,
      [weak, group, only, done](kafka::error e, std::vector<kafka::committed_offset> committed) {
        auto self = weak.lock();
        if (!e && !self) e = kafka::closed_error();
        if (e) return done(kafka_failure(e, false, group));
        std::map<std::string, std::map<std::int32_t, std::int64_t>> by_topic;
        for (const auto& c : committed) by_topic[c.topic][c.partition] = c.offset;
        if (!only.empty()) {
          auto keep = std::move(by_topic[only]);
          by_topic.clear();
          by_topic[only] = std::move(keep);
        }
        // One topic's watermarks at a time, then the answer.
        struct walk {
          std::weak_ptr<kafka::producer> producer;
          std::string group;
          std::map<std::string, std::map<std::int32_t, std::int64_t>> by_topic;
          std::map<std::string, std::map<std::int32_t, std::int64_t>>::iterator next;
          v1::Value partitions;
          std::int64_t total = 0;
          operation_adapter::outcome_handler done;

          static void step(std::shared_ptr<walk> w) {
            auto p = w->producer.lock();
            if (w->next == w->by_topic.end() || !p) {
              w->partitions.mutable_array();
              return w->done(answer(map({{"group", text(w->group)},
                                         {"partitions", w->partitions},
                                         {"lag", integer(w->total)}})));
            }
            const auto topic = w->next->first;
            p->watermarks_of(topic, admin_timeout,
                             [w, topic](kafka::error e, std::vector<kafka::watermarks> marks) {
                               if (e) return w->done(kafka_failure(e, false, topic));
                               const auto& mine = w->next->second;
                               for (const auto& m : marks) {
                                 const auto it = mine.find(m.partition);
                                 const auto at =
                                     it != mine.end() && it->second >= 0 ? it->second : -1;
                                 const auto lag = std::max<std::int64_t>(
                                     0, m.high - (at >= 0 ? at : std::max<std::int64_t>(m.low, 0)));
                                 w->total += lag;
                                 *w->partitions.mutable_array()->add_values() =
                                     map({{"topic", text(topic)},
                                          {"partition", integer(m.partition)},
                                          {"committed", integer(at)},
                                          {"high", integer(m.high)},
                                          {"lag", integer(lag)}});
                               }
                               ++w->next;
                               step(w);
                             });
          }
        };
        auto w = std::make_shared<walk>();
        w->producer = weak;
        w->group = group;
        w->by_topic = std::move(by_topic);
        w->next = w->by_topic.begin();
        w->done = done;
        walk::step(w);
      });
}

// Calls done({}) once `name` is in the cluster's metadata, checking every
// 50 ms until `until` (then done({}) anyway: it exists at the controller).
void await_topic(const std::shared_ptr<kafka::producer>& producer, const std::string& name,
                 std::chrono::steady_clock::time_point until,
                 std::function<void(kafka::error)> done) {
  producer->metadata(
      name, admin_timeout,
      [weak = producer->weak_from_this(), name, until, done](kafka::error e, kafka::cluster_info) {
        auto self = weak.lock();
        if (!e || !self || std::chrono::steady_clock::now() >= until) return done({});
        auto timer = std::make_shared<boost::asio::steady_timer>(self->executor(),
                                                                 std::chrono::milliseconds(50));
        timer->async_wait([timer, weak, name, until, done](boost::system::error_code) {
          if (auto self = weak.lock()) return await_topic(self, name, until, done);
          done({});
        });
      });
}

}  // namespace

grpc::Status kafka_invalid(std::string text) {
  return to_status(pool::errc::invalid_operation, "kafka: " + std::move(text));
}

grpc::Status check_kafka_command(const v1::Command& command) {
  const auto& a = command.args();
  std::string verbs;
  for (const auto& s : shapes) {
    verbs += std::string(verbs.empty() ? "" : ", ") + s.verb;
    if (a[0] != s.verb) continue;
    if (a.size() < s.min_args || a.size() > s.max_args) {
      return kafka_invalid(std::string("command: ") + s.usage);
    }
    for (int i = 1; i < a.size(); ++i) {
      if (a[i].empty()) return kafka_invalid(std::string("command: ") + s.usage);
    }
    if (a[0] == "topic.create") {
      for (int i = 2; i < a.size(); ++i) {
        if (a[i].find_first_not_of("-0123456789") != std::string::npos || a[i].size() > 9) {
          return kafka_invalid("command.args[" + std::to_string(i) + "]: '" + a[i] +
                               "' is not a number");
        }
      }
    } else if (!command.options().empty()) {
      return kafka_invalid(std::string("command: ") + s.usage + " takes no options");
    }
    return grpc::Status::OK;
  }
  return kafka_invalid("command: '" + a[0] + "' is not one of " + verbs);
}

void run_kafka_command(kafka::producer& producer, const v1::Command& command,
                       operation_adapter::outcome_handler done) {
  const auto& a = command.args();
  const auto& verb = a[0];
  if (verb == "topic.describe") return describe(producer, a[1], std::move(done));
  if (verb == "metadata") return metadata(producer, std::move(done));
  if (verb == "offsets") return offsets(producer, a[1], std::move(done));
  if (verb == "group.lag")
    return group_lag(producer, a[1], a.size() > 2 ? a[2] : "", std::move(done));
  auto ok = [done, name = a[1]](kafka::error e) {
    if (e) return done(kafka_failure(e, true, name));
    done(answer(text("OK")));
  };
  if (verb == "topic.delete") return producer.delete_topic(a[1], admin_timeout, std::move(ok));
  kafka::topic_spec t;
  t.name = a[1];
  if (a.size() > 2) t.partitions = std::stoi(a[2]);
  if (a.size() > 3) t.replication_factor = std::stoi(a[3]);
  for (const auto& [key, value] : command.options()) {
    t.configs.emplace_back(key, value.has_text() ? value.text() : value.bytes());
  }
  producer.create_topic(
      t, admin_timeout, [weak = producer.weak_from_this(), ok, name = a[1]](kafka::error e) {
        auto self = weak.lock();
        if (e || !self) return ok(e);
        // The controller has it; answer once the brokers know it too, so a
        // publish or a describe right after finds it.
        await_topic(self, name, std::chrono::steady_clock::now() + std::chrono::seconds(5), ok);
      });
}

attempt_outcome kafka_failure(const kafka::error& e, bool maybe_written, const std::string& topic) {
  auto code = pool::errc::broker_refused;
  auto kind = failure_kind::operation;
  std::string text = "kafka: " + e.text;
  switch (kafka::classify(e.code)) {
    case kafka::error_kind::not_found:
      code = pool::errc::not_found_at_broker;
      text = "kafka: unknown topic or partition ('" + topic + "'): " + e.text;
      break;
    case kafka::error_kind::too_large:
      code = pool::errc::invalid_operation;
      text =
          "kafka: the record is larger than a size limit (max_message_bytes here, "
          "message.max.bytes at the broker): " +
          e.text;
      break;
    case kafka::error_kind::invalid:
      code = pool::errc::invalid_operation;
      break;
    case kafka::error_kind::exists:
      code = pool::errc::broker_refused;
      break;
    case kafka::error_kind::unavailable:
    case kafka::error_kind::aborted:
    case kafka::error_kind::tls:
      // Not performed, or perhaps performed: the pool says which.
      return attempt_outcome::failed({make_error_code(protocol::errc::aborted),
                                      failure_kind::connection, maybe_written, text});
    case kafka::error_kind::authorization:
      code = pool::errc::access_refused;
      break;
    case kafka::error_kind::refused:
    case kafka::error_kind::none:
      break;
  }
  return attempt_outcome::failed({make_error_code(code), kind, maybe_written, text});
}

}  // namespace brokerside::sidecar
