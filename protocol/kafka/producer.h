// One Kafka producer on librdkafka: the Kafka protocol, partition leaders,
// batching, retries and idempotence are librdkafka's. Its event queue is
// driven from Asio: librdkafka writes a byte to a pipe whenever the queue
// has events (rd_kafka_queue_io_event_enable), an Asio descriptor waits on
// the pipe, and delivery reports, admin results, errors and log lines are
// handled on the executor — no polling thread of ours.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "protocol/kafka/errors.h"
#include "protocol/kafka/statistics.h"

// librdkafka's handle types, named without its header.
struct rd_kafka_s;
struct rd_kafka_error_s;

namespace brokerside::protocol::kafka {

// librdkafka configuration properties, in order ("bootstrap.servers", ...).
using properties = std::vector<std::pair<std::string, std::string>>;

struct record {
  std::string topic;
  std::optional<std::string> key;
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
  std::int32_t partition = -1;  // -1: the partitioner's choice (by key)
};

struct delivery {
  error failure;               // none: the broker has it
  bool maybe_written = false;  // failed, yet the broker may have it
  std::int32_t partition = -1;
  std::int64_t offset = -1;
};

struct topic_spec {
  std::string name;
  int partitions = 1;
  int replication_factor = -1;  // -1: the broker's default
  std::vector<std::pair<std::string, std::string>> configs;
};

// What the cluster says about itself (metadata), as of one answer.
struct partition_info {
  std::int32_t id = 0;
  std::int32_t leader = -1;  // -1: none right now
  std::vector<std::int32_t> replicas, in_sync;
  error failure;  // the broker's error for this partition, if any
};
struct topic_info {
  std::string name;
  std::vector<partition_info> partitions;
  error failure;  // e.g. unknown topic
};
struct broker_info {
  std::int32_t id = 0;
  std::string host;
  int port = 0;
};
struct cluster_info {
  std::vector<broker_info> brokers;
  std::vector<topic_info> topics;
};
// A partition's low and high watermarks: its first offset still kept and
// the offset the next record gets.
struct watermarks {
  std::int32_t partition = 0;
  std::int64_t low = -1, high = -1;
  error failure;
};
// A consumer group's committed offset for one partition.
struct committed_offset {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = -1;  // the next record the group reads; -1: none committed
};

class producer : public std::enable_shared_from_this<producer> {
 public:
  using error_handler = std::function<void(error)>;

  // A producer with `settings` (its delivery reports, errors and logs come
  // as events; nothing connects until it is used). Null, with `why` naming
  // the property and librdkafka's reason, when a setting is refused.
  static std::shared_ptr<producer> create(boost::asio::any_io_executor executor,
                                          const properties& settings, std::string& why);
  // Whether librdkafka takes `settings` (--check-config): empty, or why not.
  static std::string check(const properties& settings);

  ~producer();
  producer(const producer&) = delete;
  producer& operator=(const producer&) = delete;

  // A round trip to the cluster (a validate-only CreateTopics, which any
  // reachable cluster answers, even with a refusal): done(error) once, on
  // the executor; the error says why the cluster did not answer within
  // `timeout` (the last error librdkafka reported, such as a failed SASL
  // login, when there is one).
  void probe(std::chrono::milliseconds timeout, error_handler done);

  // Queues `r`; done(delivery) once, on the executor, when the broker has
  // acknowledged it (per acks) or it failed for good. The returned token
  // is for forget(); 0 when it failed at once (done is then called soon).
  std::uint64_t produce(const record& r, std::function<void(delivery)> done);
  // The caller gave up: its completion is dropped (librdkafka cannot take
  // back one queued record; it may still be written).
  void forget(std::uint64_t token);

  // Admin operations, each done(error) once on the executor.
  void create_topic(const topic_spec& topic, std::chrono::milliseconds timeout, error_handler done);
  void delete_topic(const std::string& name, std::chrono::milliseconds timeout, error_handler done);

  // What the cluster knows (producer_admin.cc), each done(error, result)
  // once on the executor. Metadata of every topic (`topic` empty) or one.
  void metadata(const std::string& topic, std::chrono::milliseconds timeout,
                std::function<void(error, cluster_info)> done);
  // Each partition's watermarks of `topic`.
  void watermarks_of(const std::string& topic, std::chrono::milliseconds timeout,
                     std::function<void(error, std::vector<watermarks>)> done);
  // `group`'s committed offsets, every partition it has committed for.
  void committed(const std::string& group, std::chrono::milliseconds timeout,
                 std::function<void(error, std::vector<committed_offset>)> done);
  // `topic`'s configuration entries that differ from the broker's defaults.
  void topic_configs(
      const std::string& topic, std::chrono::milliseconds timeout,
      std::function<void(error, std::vector<std::pair<std::string, std::string>>)> done);

  // Transactions, on a producer made with a transactional.id
  // (producer_txn.cc). init, commit and abort block in librdkafka, so they
  // run on the blocking thread: done(error) once, on the executor. A failed
  // commit's error says when the transaction must be aborted. A producer
  // closed inside a transaction aborts it before librdkafka goes.
  void init_transactions(std::chrono::milliseconds timeout, error_handler done);
  error begin_transaction();
  void commit_transaction(std::chrono::milliseconds timeout, error_handler done);
  void abort_transaction(std::chrono::milliseconds timeout, error_handler done);
  bool in_transaction() const noexcept;

  // librdkafka's own errors (a fatal one ends the producer) and log lines,
  // on the executor.
  void on_error(std::function<void(const error&, bool fatal)> handler) {
    error_handler_ = std::move(handler);
  }
  void on_log(std::function<void(int level, const std::string&)> handler) {
    log_handler_ = std::move(handler);
  }

  // Fails what is pending (errc::aborted) and lets librdkafka go (its
  // threads are joined on a thread of their own, never on the executor).
  void close();

  std::size_t pending() const noexcept;
  // librdkafka's last statistics report (statistics.interval.ms): records
  // still queued in it. Any thread.
  statistics last_statistics() const;
  boost::asio::any_io_executor executor() const;

 private:
  struct impl;
  explicit producer(std::unique_ptr<impl> i);
  // Runs `work` (which may block on librdkafka, and posts its outcome to
  // the executor) on the producer's blocking thread; librdkafka stays until
  // it returns.
  void post_blocking(std::function<void()> work);
  // producer_txn.cc: commit or abort, as librdkafka's `end` does it.
  void end_transaction(::rd_kafka_error_s* (*end)(::rd_kafka_s*, int),
                       std::chrono::milliseconds timeout, error_handler done);
  void wait_for_events();
  void drain_events();

  std::unique_ptr<impl> impl_;
  std::function<void(const error&, bool)> error_handler_;
  std::function<void(int, const std::string&)> log_handler_;
};

}  // namespace brokerside::protocol::kafka
