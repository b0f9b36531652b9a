#include "sidecar/adapters/nats/nats_pull_subscription.h"

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "pool/errc.h"
#include "protocol/errc.h"
#include "protocol/nats/jetstream.h"
#include "sidecar/adapters/nats/nats_jetstream.h"
#include "sidecar/adapters/nats/nats_message.h"
#include "sidecar/status.h"

namespace brokerside::sidecar {
namespace {

namespace nats = protocol::nats;
using json = nlohmann::json;

std::int64_t nanoseconds(std::chrono::milliseconds ms) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(ms).count();
}

// Pull consumers of one Recv stream, settled by it.
class nats_pull_subscription final : public subscription,
                                     public std::enable_shared_from_this<nats_pull_subscription> {
 public:
  nats_pull_subscription(boost::asio::any_io_executor executor,
                         std::shared_ptr<nats::connection> conn, nats_pull_settings settings)
      : executor_(std::move(executor)), conn_(std::move(conn)), settings_(settings) {}

  void start(const v1::Subscribe& subscribe, std::uint32_t credit, subscription_events events) {
    events_ = std::move(events);
    durable_ = subscribe.group();
    for (const auto& subject : subscribe.sources()) {
      consumers_.push_back({subject, {}, {}, nats::pull_window(1)});
    }
    share(credit);
    find_stream(0);
  }

  // (These run on gRPC threads; the state is the strand's.)
  void settle(std::uint64_t tag, bool ack, bool requeue) override {
    const auto body = ack ? nats::ack_body : requeue ? nats::nak_body : nats::term_body;
    boost::asio::post(executor_,
                      [self = shared_from_this(), tag, body] { self->settled(tag, body); });
  }

  bool delays_redelivery() const override { return true; }

  void requeue_after(std::uint64_t tag, std::chrono::nanoseconds delay) override {
    boost::asio::post(executor_, [self = shared_from_this(), tag, delay] {
      self->settled(tag, nats::delayed_nak_body(delay));
    });
  }

  void in_progress(std::uint64_t tag) override {
    boost::asio::post(executor_, [self = shared_from_this(), tag] {
      const auto it = self->unsettled_.find(tag);
      if (it != self->unsettled_.end()) {
        (void)self->conn_->send(it->second.ack_subject, {}, nats::progress_body);
      }
    });
  }

  void set_credit(std::uint32_t credit) override {
    boost::asio::post(executor_, [self = shared_from_this(), credit] {
      self->share(credit);
      if (!self->pulling_) return;
      for (std::size_t i = 0; i < self->consumers_.size(); ++i) self->pull(i);
    });
  }

  // What the client did not settle goes back at once (-NAK), as an AMQP
  // channel's close requeues it, rather than after the consumer's ack_wait;
  // ephemeral consumers go now rather than after inactive_threshold; the
  // PING's PONG says the server has read every ack before it.
  void stop(std::function<void()> then) override {
    boost::asio::post(executor_, [self = shared_from_this(), then = std::move(then)] {
      self->stopped_ = true;
      self->pulling_ = false;
      // The waiting pulls end with their inbox, so nothing nacked here is
      // handed to them again.
      if (self->inbox_sid_ != 0) self->conn_->unsubscribe(self->inbox_sid_);
      for (const auto& [tag, d] : std::exchange(self->unsettled_, {})) {
        (void)self->conn_->send(d.ack_subject, {}, nats::nak_body);
      }
      if (self->durable_.empty()) {
        for (const auto& c : self->consumers_) {
          if (!c.name.empty()) self->delete_consumer(c.stream, c.name);
        }
      }
      self->conn_->ping([then](std::error_code, bool, const std::string&) { then(); });
    });
  }

 private:
  struct consumer {
    std::string subject;  // the filter: what was subscribed
    std::string stream;   // the stream that takes it
    std::string name;     // the consumer's: the durable name, or bs_<stream key>_<index>
    nats::pull_window window;
  };
  struct delivery {
    std::string ack_subject;
    std::size_t consumer = 0;
  };

  // The delivery with tag `tag` is settled with `body` at the broker, which
  // frees its place in the credit.
  void settled(std::uint64_t tag, std::string_view body) {
    const auto it = unsettled_.find(tag);
    if (it == unsettled_.end()) return;
    (void)conn_->send(it->second.ack_subject, {}, body);
    const auto index = it->second.consumer;
    unsettled_.erase(it);
    consumers_[index].window.settled();
    pull(index);
  }

  void share(std::uint32_t credit) {
    const auto n = static_cast<std::uint32_t>(consumers_.size());
    const auto each = n == 0 ? credit : std::max<std::uint32_t>(1, credit / n);
    for (auto& c : consumers_) c.window.set_credit(each);
  }

  // A JetStream API request whose JSON answer goes to `then`; an error
  // object or no JetStream at all ends the stream.
  void api(const std::string& subject, const json& body, std::function<void(json)> then) {
    std::uint64_t token = 0;
    std::weak_ptr<nats_pull_subscription> weak = shared_from_this();
    conn_->request(
        subject, {}, body.dump(),
        [weak, then = std::move(then)](std::error_code ec, nats::msg reply, bool) {
          auto self = weak.lock();
          if (!self) return;
          if (ec == protocol::errc::refused) {
            return self->fail(pool::errc::unavailable,
                              "nats: no responders for the JetStream API: is JetStream "
                              "enabled on the server?");
          }
          if (ec) return;  // the connection is lost: the stream subscribes again
          json answer;
          if (auto failed = nats_jetstream::parse(reply.payload, answer)) {
            return self->fail(failed->result.error, failed->result.detail);
          }
          then(std::move(answer));
        },
        token);
  }

  void find_stream(std::size_t index) {
    if (index == consumers_.size()) return subscribe_inbox();
    const auto& subject = consumers_[index].subject;
    api("$JS.API.STREAM.NAMES", {{"subject", subject}},
        [self = shared_from_this(), index, subject](json answer) {
          if (self->stopped_) return;  // nothing made for it yet
          std::vector<std::string> streams;
          if (const auto s = answer.find("streams"); s != answer.end() && s->is_array()) {
            for (const auto& name : *s) {
              if (name.is_string()) streams.push_back(name.get<std::string>());
            }
          }
          if (streams.empty()) {
            return self->fail(pool::errc::not_found_at_broker,
                              "nats: no JetStream stream takes subject '" + subject + "'");
          }
          if (streams.size() > 1) {
            std::string names;
            for (const auto& n : streams) names += (names.empty() ? "" : ", ") + n;
            return self->fail(pool::errc::invalid_operation,
                              "nats: subject '" + subject + "' spans several streams (" + names +
                                  "): subscribe to subjects within one");
          }
          self->consumers_[index].stream = streams.front();
          self->create_consumer(index);
        });
  }

  void create_consumer(std::size_t index) {
    auto& c = consumers_[index];
    json config = {
        {"ack_policy", "explicit"}, {"deliver_policy", "all"}, {"filter_subject", c.subject}};
    std::string subject;
    if (durable_.empty()) {
      // Named after the Recv stream, so its re-subscribe after a lost
      // connection takes up the same consumer where it was (a new one would
      // start from the stream's first message again).
      const auto name = "bs_" + events_.stream_key + "_" + std::to_string(index);
      config["name"] = name;
      config["inactive_threshold"] = nanoseconds(settings_.inactive_threshold);
      subject = "$JS.API.CONSUMER.CREATE." + c.stream + "." + name;
    } else {
      config["durable_name"] = durable_;
      subject = "$JS.API.CONSUMER.DURABLE.CREATE." + c.stream + "." + durable_;
    }
    api(subject, {{"stream_name", c.stream}, {"config", config}},
        [self = shared_from_this(), index](json answer) {
          auto name = answer.value("name", std::string());
          if (self->stopped_) {
            // Made after the stream's stop, which could not delete it: an
            // ephemeral one goes now, not after inactive_threshold.
            if (self->durable_.empty() && !name.empty()) {
              self->delete_consumer(self->consumers_[index].stream, name);
            }
            return;
          }
          self->consumers_[index].name = std::move(name);
          self->find_stream(index + 1);
        });
  }

  // One SUB for every consumer's pulls: a pull's status comes to
  // inbox_ + <consumer index>, its messages with their own subjects.
  void subscribe_inbox() {
    std::weak_ptr<nats_pull_subscription> weak = shared_from_this();
    const auto sids = conn_->subscribe(
        {inbox_ + "*"}, {},
        [weak](nats::msg m) {
          if (auto self = weak.lock()) self->on_message(std::move(m));
        },
        [weak](const std::string& text) {
          if (auto self = weak.lock()) self->fail(pool::errc::access_refused, "nats: " + text);
        },
        [weak](std::error_code ec, bool, const std::string&) {
          auto self = weak.lock();
          if (!self || ec) return;
          self->events_.ready();
          self->pulling_ = true;
          for (std::size_t i = 0; i < self->consumers_.size(); ++i) self->pull(i);
        });
    if (!sids.empty()) inbox_sid_ = sids.front();
  }

  void pull(std::size_t index) {
    if (!pulling_) return;
    auto& c = consumers_[index];
    const auto batch = c.window.next_pull();
    if (batch == 0) return;
    (void)conn_->send("$JS.API.CONSUMER.MSG.NEXT." + c.stream + "." + c.name,
                      inbox_ + std::to_string(index),
                      nats::pull_request(batch, settings_.pull_expires));
  }

  void on_message(nats::msg m) {
    if (m.subject.starts_with(inbox_)) return on_status(m);
    nats::ack_subject ack;
    if (!nats::parse_ack_subject(m.reply, ack)) return;  // not pulled by us
    std::size_t index = 0;
    while (index < consumers_.size() &&
           (consumers_[index].stream != ack.stream || consumers_[index].name != ack.consumer)) {
      ++index;
    }
    if (index == consumers_.size()) return;
    consumers_[index].window.delivered();
    v1::Delivery d;
    d.set_source(m.subject);
    d.set_redelivered(ack.delivered > 1);
    d.set_offset(static_cast<std::int64_t>(ack.stream_sequence));
    const auto tag = ++next_tag_;
    unsettled_.emplace(tag, delivery{std::move(m.reply), index});
    m.reply.clear();  // the ack subject is ours, not the publisher's reply
    nats_message::to_v1(std::move(m), *d.mutable_message());
    events_.deliver(std::move(d), tag);
    pull(index);
  }

  void on_status(const nats::msg& m) {
    const auto suffix = std::string_view(m.subject).substr(inbox_.size());
    std::size_t index = 0;
    for (const char ch : suffix) {
      if (ch < '0' || ch > '9') return;
      index = index * 10 + static_cast<std::size_t>(ch - '0');
    }
    if (suffix.empty() || index >= consumers_.size()) return;
    auto& c = consumers_[index];
    switch (nats::classify_pull_reply(m)) {
      case nats::pull_reply::message:
      case nats::pull_reply::heartbeat:
        return;
      case nats::pull_reply::ended:
        c.window.pull_ended();
        return pull(index);
      case nats::pull_reply::gone:
        return fail(pool::errc::unavailable, "nats: JetStream consumer '" + c.name +
                                                 "' of stream '" + c.stream +
                                                 "' is gone; subscribe again");
      case nats::pull_reply::unexpected:
        break;
    }
    nats::header_block h;
    (void)nats::decode_headers(m.headers, h);
    fail(pool::errc::broker_refused, "nats: JetStream answered a pull of consumer '" + c.name +
                                         "' with status " + std::to_string(h.status) + " " +
                                         h.description);
  }

  // Deletes an ephemeral consumer now (its answer does not matter: one
  // not deleted goes after inactive_threshold).
  void delete_consumer(const std::string& stream, const std::string& name) {
    std::uint64_t token = 0;
    conn_->request(
        "$JS.API.CONSUMER.DELETE." + stream + "." + name, {}, {},
        [](std::error_code, nats::msg, bool) {}, token);
  }

  void fail(std::error_code ec, const std::string& text) {
    pulling_ = false;
    events_.failed(to_status(ec, text));  // the stream takes the first
  }
  void fail(pool::errc e, const std::string& text) { fail(make_error_code(e), text); }

  boost::asio::any_io_executor executor_;   // its connection's (the pool's strand)
  std::shared_ptr<nats::connection> conn_;  // the dedicated connection
  nats_pull_settings settings_;
  subscription_events events_;
  std::string durable_;                    // empty: ephemeral consumers
  std::vector<consumer> consumers_;        // one per subscribed subject
  std::string inbox_ = nats::new_inbox();  // "_INBOX.<unique>.": pulls' replies
  std::uint64_t inbox_sid_ = 0;            // its SUB's
  bool pulling_ = false;                   // the inbox is subscribed, not stopped
  bool stopped_ = false;                   // stop() ran: what its setup makes from now on is undone
  std::unordered_map<std::uint64_t, delivery> unsettled_;  // by tag
  std::uint64_t next_tag_ = 0;
};

}  // namespace

std::shared_ptr<subscription> start_nats_pull_subscription(
    boost::asio::any_io_executor executor, std::shared_ptr<protocol::nats::connection> conn,
    const v1::Subscribe& subscribe, std::uint32_t credit, nats_pull_settings settings,
    subscription_events events) {
  auto sub =
      std::make_shared<nats_pull_subscription>(std::move(executor), std::move(conn), settings);
  sub->start(subscribe, credit, std::move(events));
  return sub;
}

}  // namespace brokerside::sidecar
