// What Stats shows of a librdkafka client, read from the statistics JSON it
// emits every statistics.interval.ms: records still in its queues, and the
// partitions a consumer holds with how far behind it is on each.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace brokerside::protocol::kafka {

struct partition_statistics {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t position = -1;        // the next offset handed out (-1: none yet)
  std::int64_t committed = -1;       // the group's committed offset (-1: none)
  std::int64_t high_watermark = -1;  // the partition's end as last fetched
  std::int64_t lag = -1;             // high_watermark - committed (-1: unknown)
};

struct statistics {
  bool valid = false;                            // parsed from at least one report
  std::uint64_t queued = 0;                      // records produced and not yet acknowledged
  std::vector<partition_statistics> partitions;  // a consumer's, those it fetches
};

// Parses one statistics report; `valid` false (and nothing else set) when
// it is not the JSON librdkafka writes. Pure.
statistics parse_statistics(std::string_view json) noexcept;

// The last report: written on the client's strand, read by Stats from any
// thread.
class statistics_cell {
 public:
  void set(statistics s) {
    std::lock_guard lock(mutex_);
    last_ = std::move(s);
  }
  statistics get() const {
    std::lock_guard lock(mutex_);
    return last_;
  }

 private:
  mutable std::mutex mutex_;
  statistics last_;
};

}  // namespace brokerside::protocol::kafka
