#include "sidecar/adapters/amqp/amqp_subscription.h"

#include <atomic>
#include <boost/asio/post.hpp>
#include <string>
#include <vector>

#include "pool/errc.h"
#include "protocol/errc.h"
#include "sidecar/adapters/amqp/amqp_translate.h"
#include "sidecar/status.h"

namespace brokerside::sidecar {
namespace {

namespace amqp = protocol::amqp;
namespace translate = amqp_translate;
using channel_id = amqp::channel_id;
using translate::describe;

// A consumer on a channel of a shared connection, settled by the stream.
class amqp_subscription final : public subscription,
                                public std::enable_shared_from_this<amqp_subscription> {
 public:
  amqp_subscription(boost::asio::any_io_executor executor, std::shared_ptr<amqp::connection> conn)
      : executor_(std::move(executor)), conn_(std::move(conn)) {}

  // Dropped without stop() (its connection was lost): close the channel
  // anyway, in case the connection lives on.
  ~amqp_subscription() override {
    if (stopped_) return;
    boost::asio::post(executor_, [conn = conn_, channel = channel_] {
      if (channel != 0) conn->close_channel(channel, [](std::error_code, amqp::broker_reply) {});
    });
  }

  // The stream has ended: channel.close goes out after every ack queued
  // before it, and once the broker confirms (close-ok) those acks are
  // settled and what was not acked is requeued; only then may the
  // connection go.
  void stop(std::function<void()> then) override {
    stopped_ = true;
    boost::asio::post(executor_, [self = shared_from_this(), then = std::move(then)] {
      if (self->channel_ == 0) return then();
      self->conn_->close_channel(self->channel_,
                                 [then](std::error_code, amqp::broker_reply) { then(); });
    });
  }

  void start(const v1::Subscribe& subscribe, std::uint32_t credit, subscription_events events) {
    events_ = std::move(events);
    sources_.assign(subscribe.sources().begin(), subscribe.sources().end());
    std::weak_ptr<amqp_subscription> weak = shared_from_this();
    conn_->open_channel(false, [weak, conn = std::weak_ptr<amqp::connection>(conn_), credit](
                                   std::error_code ec, channel_id id, amqp::broker_reply reply) {
      auto self = weak.lock();
      if (!self || self->stopped_) {
        // The stream ended while its channel opened (stop() found no
        // channel to close): close it now, or it stays open on the
        // shared connection for good.
        if (auto c = conn.lock(); c && !ec) {
          c->close_channel(id, [](std::error_code, amqp::broker_reply) {});
        }
        return;
      }
      if (ec) return self->refused(ec, reply);
      self->channel_ = id;
      self->conn_->call(id, qos_for(credit),
                        [weak](std::error_code ec, amqp::method, amqp::broker_reply r) {
                          auto self = weak.lock();
                          if (!self) return;
                          if (ec) return self->refused(ec, r);
                          for (std::size_t i = 0; i < self->sources_.size(); ++i) self->consume(i);
                        });
    });
  }

  // (Both run on gRPC threads: channel_ is read on the strand that sets it.)
  void settle(std::uint64_t tag, bool ack, bool requeue) override {
    boost::asio::post(executor_, [self = shared_from_this(), tag, ack, requeue] {
      if (self->channel_ == 0) return;
      if (ack) {
        self->conn_->ack(self->channel_, tag, false);
      } else {
        self->conn_->reject(self->channel_, tag, requeue);
      }
    });
  }

  void set_credit(std::uint32_t credit) override {
    boost::asio::post(executor_, [self = shared_from_this(), credit] {
      if (self->channel_ == 0) return;  // start() sets the credit given then; see above
      self->conn_->call(self->channel_, qos_for(credit),
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
    conn_->consume(
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
    if (ec == std::errc::resource_unavailable_try_again) {
      return events_.failed(to_status(
          pool::errc::pool_exhausted,
          "amqp: every channel of the consumer connection is taken (the broker's channel_max is " +
              std::to_string(conn_->channel_max()) + "; lower channels_per_connection)"));
    }
    if (ec != protocol::errc::channel_closed) return;
    events_.failed(to_status(translate::error_for_reply_code(reply.code), describe(reply, ec)));
  }

  boost::asio::any_io_executor executor_;   // its connection's (the pool's strand)
  std::shared_ptr<amqp::connection> conn_;  // shared with other streams' consumers
  subscription_events events_;
  std::vector<std::string> sources_;  // queue names
  channel_id channel_ = 0;            // set on the strand before any delivery
  std::size_t consuming = 0;          // consumers confirmed
  std::atomic<bool> stopped_{false};  // stop() was called
};

}  // namespace

std::shared_ptr<subscription> start_amqp_subscription(
    boost::asio::any_io_executor executor, std::shared_ptr<protocol::amqp::connection> conn,
    const v1::Subscribe& subscribe, std::uint32_t credit, subscription_events events) {
  auto sub = std::make_shared<amqp_subscription>(std::move(executor), std::move(conn));
  sub->start(subscribe, credit, std::move(events));
  return sub;
}

}  // namespace brokerside::sidecar
