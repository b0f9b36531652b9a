// The producer's state, shared by producer.cc (records, topics, the event
// loop) and producer_admin.cc (what the cluster knows). Internal to
// protocol/kafka (it names librdkafka's types).
#pragma once

#include <librdkafka/rdkafka.h>

#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <unordered_map>

#include "protocol/kafka/event_pipe.h"
#include "protocol/kafka/producer.h"
#include "protocol/kafka/statistics.h"

namespace brokerside::protocol::kafka {

inline error error_of(rd_kafka_resp_err_t code, const char* text) {
  return {static_cast<int>(code), text != nullptr && *text != '\0' ? text : rd_kafka_err2str(code)};
}

struct producer::impl {
  // An admin operation's result event (null, with the error, when the
  // producer closed first).
  using admin_handler = std::function<void(rd_kafka_event_t*, error)>;

  event_pipe wakeups;  // librdkafka's queue waking Asio
  rd_kafka_t* rk = nullptr;
  rd_kafka_queue_t* queue = nullptr;  // the main queue: reports, admin results, errors, logs
  std::uint64_t next_token = 0;
  std::unordered_map<std::uint64_t, std::function<void(delivery)>> pending;  // by token
  std::unordered_map<std::uint64_t, admin_handler> admin;                    // by token
  // One thread for librdkafka's calls that block (metadata, watermarks),
  // made on the first; joined before librdkafka is let go.
  std::shared_ptr<boost::asio::thread_pool> blocking;
  statistics_cell stats;        // librdkafka's last statistics report
  error last_error;             // the last one librdkafka reported, for a probe's failure
  bool in_transaction = false;  // begun, not yet committed or aborted
  bool closed = false;

  explicit impl(boost::asio::any_io_executor executor) : wakeups(std::move(executor)) {}

  // Options for an admin call whose result comes to `done`, with both
  // timeouts `timeout`; the caller destroys them after the call.
  rd_kafka_AdminOptions_t* admin_options(rd_kafka_admin_op_t op, std::chrono::milliseconds timeout,
                                         admin_handler done);
};

}  // namespace brokerside::protocol::kafka
