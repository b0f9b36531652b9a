#include "sidecar/adapters/kafka/kafka_subscription.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <mutex>

#include "pool/errc.h"
#include "protocol/kafka/consumer.h"
#include "sidecar/adapters/kafka/dead_letters.h"
#include "sidecar/status.h"

namespace brokerside::sidecar {
namespace {

namespace kafka = protocol::kafka;

class kafka_subscription final : public subscription,
                                 public std::enable_shared_from_this<kafka_subscription> {
 public:
  kafka_subscription(boost::asio::any_io_executor executor,
                     std::shared_ptr<dead_letters> dead_letter)
      : executor_(std::move(executor)), dead_letter_(std::move(dead_letter)) {}

  void start(kafka::properties settings, const v1::Subscribe& subscribe, std::uint32_t credit,
             subscription_events events) {
    events_ = std::move(events);
    group_ = subscribe.group();
    settings.emplace_back("group.id", subscribe.group());
    std::vector<std::string> topics;
    for (const auto& s : subscribe.sources()) {
      // librdkafka takes a regular expression as a topic starting with '^'.
      topics.push_back(subscribe.kind() == v1::SOURCE_KIND_PATTERN && !s.starts_with('^') ? "^" + s
                                                                                          : s);
    }
    boost::asio::post(executor_, [self = shared_from_this(), settings = std::move(settings),
                                  topics = std::move(topics), credit] {
      std::string why;
      self->consumer_ = kafka::consumer::create(self->executor_, settings, why);
      if (!self->consumer_) {
        return self->fail(pool::errc::invalid_operation, "kafka: " + why);
      }
      {
        std::lock_guard lock(self->described_mutex_);
        self->described_ = self->consumer_;
      }
      std::weak_ptr<kafka_subscription> weak = self;
      kafka::consumer::handlers h;
      h.message = [weak](kafka::consumed c, std::uint64_t tag) {
        if (auto s = weak.lock()) s->deliver(std::move(c), tag);
      };
      h.assigned = [weak] {
        if (auto s = weak.lock()) s->events_.ready();
      };
      h.failed = [weak](kafka::error e) {
        auto s = weak.lock();
        if (!s) return;
        s->fail(kafka::classify(e.code) == kafka::error_kind::authorization
                    ? pool::errc::access_refused
                    : pool::errc::unavailable,
                "kafka: " + e.text);
      };
      h.log = [](int level, const std::string& text) {
        if (level <= 4) spdlog::warn("kafka consumer: {}", text);
      };
      h.revoked_acks = [weak] {
        if (auto s = weak.lock()) s->count(pool::target_pool::recv_event::acks_refused);
      };
      self->consumer_->start(topics, credit, std::move(h));
    });
  }

  // (These run on gRPC threads; the consumer is the strand's.)
  void settle(std::uint64_t tag, bool ack, bool requeue) override {
    const auto how = ack       ? kafka::consumer::settlement::ack
                     : requeue ? kafka::consumer::settlement::requeue
                               : kafka::consumer::settlement::drop;
    boost::asio::post(executor_, [self = shared_from_this(), tag, how] {
      if (!self->consumer_) return;
      if (how == kafka::consumer::settlement::drop && self->dead_letter_) {
        return self->send_to_dead_letter(tag);
      }
      self->consumer_->settle(tag, how);
    });
  }

  void set_credit(std::uint32_t credit) override {
    boost::asio::post(executor_, [self = shared_from_this(), credit] {
      if (self->consumer_) self->consumer_->set_credit(credit);
    });
  }

  void fill_stats(v1::SubscriptionStats& out) const override {
    std::shared_ptr<const kafka::consumer> consumer;
    {
      std::lock_guard lock(described_mutex_);
      consumer = described_;
    }
    if (!consumer) return;
    for (const auto& p : consumer->last_statistics().partitions) {
      auto& part = *out.add_partitions();
      part.set_topic(p.topic);
      part.set_partition(p.partition);
      part.set_position(p.position);
      part.set_committed(p.committed);
      part.set_high_watermark(p.high_watermark);
      part.set_lag(p.lag);
    }
  }

  void stop(std::function<void()> then) override {
    boost::asio::post(executor_, [self = shared_from_this(), then = std::move(then)]() mutable {
      if (!self->consumer_) return then();
      self->consumer_->stop(std::move(then));
    });
  }

 private:
  void deliver(kafka::consumed c, std::uint64_t tag) {
    v1::Delivery d;
    d.set_source(c.topic);
    d.set_partition(c.partition);
    d.set_offset(c.offset);
    d.set_redelivered(c.redelivered);
    auto& m = *d.mutable_message();
    m.set_body(std::move(c.value));
    if (c.key) m.set_key(std::move(*c.key));
    for (auto& [name, value] : c.headers) (*m.mutable_headers())[name].set_bytes(std::move(value));
    if (c.timestamp_ms >= 0) {
      *m.mutable_timestamp() =
          google::protobuf::util::TimeUtil::MillisecondsToTimestamp(c.timestamp_ms);
    }
    events_.deliver(std::move(d), tag);
  }

  // The record stays outstanding (counted against the credit) until the
  // dead-letter topic has it; then its offset is committed like an ack's.
  // If the topic cannot take it, it is requeued: never lost.
  void send_to_dead_letter(std::uint64_t tag) {
    const auto* record = consumer_->find(tag);
    if (record == nullptr) return consumer_->settle(tag, kafka::consumer::settlement::drop);
    dead_letter_->send(*record, group_, [weak = weak_from_this(), tag](kafka::error e) {
      auto self = weak.lock();
      if (!self) return;
      boost::asio::post(self->executor_, [self, tag, e = std::move(e)] {
        if (!self->consumer_) return;
        if (!e) {
          self->count(pool::target_pool::recv_event::dead_lettered);
          return self->consumer_->settle(tag, kafka::consumer::settlement::drop);
        }
        spdlog::warn(
            "kafka: a nacked record could not go to the dead-letter topic '{}' ({}): it is "
            "delivered again",
            self->dead_letter_->topic(), e.text);
        self->consumer_->settle(tag, kafka::consumer::settlement::requeue);
      });
    });
  }

  void count(pool::target_pool::recv_event what) { events_.count(what); }

  void fail(pool::errc e, const std::string& text) {
    events_.failed(to_status(make_error_code(e), text));  // the stream takes the first
  }

  boost::asio::any_io_executor executor_;      // a strand of its own
  std::shared_ptr<dead_letters> dead_letter_;  // null: a nack without requeue drops
  std::string group_;
  subscription_events events_;
  std::shared_ptr<kafka::consumer> consumer_;
  // The consumer as Stats reads it, from other threads.
  mutable std::mutex described_mutex_;
  std::shared_ptr<const kafka::consumer> described_;
};

}  // namespace

std::shared_ptr<subscription> start_kafka_subscription(boost::asio::any_io_executor executor,
                                                       protocol::kafka::properties settings,
                                                       std::shared_ptr<dead_letters> dead_letter,
                                                       const v1::Subscribe& subscribe,
                                                       std::uint32_t credit,
                                                       subscription_events events) {
  auto sub = std::make_shared<kafka_subscription>(std::move(executor), std::move(dead_letter));
  sub->start(std::move(settings), subscribe, credit, std::move(events));
  return sub;
}

}  // namespace brokerside::sidecar
