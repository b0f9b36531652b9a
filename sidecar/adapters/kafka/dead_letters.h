// A Kafka target's dead-letter topic: records that a Recv client nacked
// without requeue are produced to it, with headers naming where they came
// from, before their offsets are committed. One producer per target, made
// on the first dead letter (a target that never nacks pays nothing), on a
// strand of its own that every Recv stream of the target posts to.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <string>

#include "protocol/kafka/consumer.h"
#include "protocol/kafka/producer.h"
#include "sidecar/operation_adapter.h"

namespace brokerside::sidecar {

class dead_letters final : public target_service,
                           public std::enable_shared_from_this<dead_letters> {
 public:
  // `topic` empty: nacks drop (counted as handled) instead.
  dead_letters(boost::asio::any_io_executor executor, std::string target,
               protocol::kafka::properties producer_settings, std::string topic);

  const std::string& topic() const noexcept { return topic_; }

  // Produces `from` (consumed by `group`) to the dead-letter topic, its
  // headers plus brokerside.dead_letter.{topic,partition,offset,group,reason}.
  // done(error) once, on this object's strand (empty error: the broker has
  // it): post back to your own. Safe from any thread.
  void send(const protocol::kafka::consumed& from, const std::string& group,
            std::function<void(protocol::kafka::error)> done);

  void start() override {}
  // Lets the producer go (records still in flight fail).
  void stop() override;

 private:
  boost::asio::any_io_executor strand_;
  std::string target_;  // its name, for logs
  protocol::kafka::properties settings_;
  std::string topic_;
  std::shared_ptr<protocol::kafka::producer> producer_;  // made on the first send
};

}  // namespace brokerside::sidecar
