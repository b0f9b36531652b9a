// One member of a Kafka consumer group on librdkafka, its event queue driven
// from Asio as the producer's is (rd_kafka_queue_io_event_enable into a
// pipe). It hands out at most `credit` records not yet settled: beyond, the
// assigned partitions are paused (fetching stops at the broker) and records
// polled meanwhile wait here, resumed as acks come. Offsets are committed
// from the contiguous acked prefix of each partition (offset_tracker), so a
// restart redelivers exactly what was not acked; a rebalance commits what
// was acked before its partitions go.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "protocol/kafka/errors.h"
#include "protocol/kafka/producer.h"
#include "protocol/kafka/statistics.h"

namespace brokerside::protocol::kafka {

struct consumed {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::optional<std::string> key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
  std::int64_t timestamp_ms = -1;  // -1: none
  bool redelivered = false;        // handed out before, nacked with requeue
};

class consumer : public std::enable_shared_from_this<consumer> {
 public:
  struct handlers {
    std::function<void(consumed, std::uint64_t tag)> message;  // settle by `tag`
    std::function<void()> assigned;                            // the first assignment
    std::function<void(error)> failed;                         // fatal: it cannot go on
    std::function<void(int level, const std::string&)> log;
    std::function<void()> revoked_acks;  // an ack came for a partition no longer ours
  };

  // A group member with `settings` (group.id among them). Null, with `why`
  // naming the property, when librdkafka refuses one.
  static std::shared_ptr<consumer> create(boost::asio::any_io_executor executor,
                                          const properties& settings, std::string& why);
  ~consumer();
  consumer(const consumer&) = delete;
  consumer& operator=(const consumer&) = delete;

  // Subscribes to `topics` ("^..." a regular expression, as librdkafka
  // takes it); records come to handlers.message, on the executor.
  void start(const std::vector<std::string>& topics, std::uint32_t credit, handlers h);

  // Settles record `tag`: acked (committed once the prefix reaches it),
  // requeued (handed out again, flagged redelivered) or dropped (counted as
  // handled: committed like an ack).
  enum class settlement { ack, requeue, drop };
  void settle(std::uint64_t tag, settlement how);
  // The record handed out as `tag` and not settled yet (to dead-letter it
  // before settling it), or null: settled, or its partition revoked.
  const consumed* find(std::uint64_t tag) const;
  void set_credit(std::uint32_t credit);
  // librdkafka's last statistics report (statistics.interval.ms): the
  // partitions this member fetches, with their lag. Any thread.
  statistics last_statistics() const;

  // Commits what was acked, leaves the group, then lets librdkafka go (on a
  // thread of its own); `then` on the executor once it has left.
  void stop(std::function<void()> then);

 private:
  struct impl;
  explicit consumer(std::unique_ptr<impl> i);
  void wait_for_events();
  void drain_events();
  void rebalance(void* event);
  void hand_out();
  void flow();
  void commit_soon();
  void commit();
  void leave();
  void check_closed();
  void finish_close();

  std::unique_ptr<impl> impl_;
};

}  // namespace brokerside::protocol::kafka
