#include "sidecar/adapters/kafka/dead_letters.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <future>

namespace brokerside::sidecar {

namespace kafka = protocol::kafka;

dead_letters::dead_letters(boost::asio::any_io_executor executor, std::string target,
                           kafka::properties producer_settings, std::string topic)
    : strand_(boost::asio::make_strand(std::move(executor))),
      target_(std::move(target)),
      settings_(std::move(producer_settings)),
      topic_(std::move(topic)) {}

void dead_letters::send(const kafka::consumed& from, const std::string& group,
                        std::function<void(kafka::error)> done) {
  kafka::record r;
  r.topic = topic_;
  r.key = from.key;
  r.value = from.value;
  r.headers = from.headers;
  r.headers.emplace_back("brokerside.dead_letter.topic", from.topic);
  r.headers.emplace_back("brokerside.dead_letter.partition", std::to_string(from.partition));
  r.headers.emplace_back("brokerside.dead_letter.offset", std::to_string(from.offset));
  r.headers.emplace_back("brokerside.dead_letter.group", group);
  r.headers.emplace_back("brokerside.dead_letter.reason", "nacked without requeue");
  boost::asio::post(
      strand_, [self = shared_from_this(), r = std::move(r), done = std::move(done)]() mutable {
        if (!self->producer_) {
          std::string why;
          self->producer_ = kafka::producer::create(self->strand_, self->settings_, why);
          if (!self->producer_) return done({-1, "cannot make the dead-letter producer: " + why});
          self->producer_->on_log([name = self->target_](int level, const std::string& text) {
            if (level <= 4) spdlog::warn("target {}: dead-letter producer: {}", name, text);
          });
        }
        self->producer_->produce(
            r, [done = std::move(done)](kafka::delivery d) { done(std::move(d.failure)); });
      });
}

void dead_letters::stop() {
  // From outside the io threads, at shutdown: the strand closes it.
  auto closed = std::make_shared<std::promise<void>>();
  boost::asio::post(strand_, [self = shared_from_this(), closed] {
    if (self->producer_) self->producer_->close();
    closed->set_value();
  });
  closed->get_future().wait_for(std::chrono::seconds(2));
}

}  // namespace brokerside::sidecar
