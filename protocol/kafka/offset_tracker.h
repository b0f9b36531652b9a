// Which offsets a consumer group may commit when acks come out of order
// (sparse acks, as kafka-pixy keeps them): per partition, the offsets
// delivered and not yet acked; the offset to commit is the lowest of those
// (or, when none is left, one past the highest delivered), so a restart
// redelivers exactly what was not acked. Sans-io.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

namespace brokerside::protocol::kafka {

// A topic's partition.
using topic_partition = std::pair<std::string, std::int32_t>;

class offset_tracker {
 public:
  // Record `offset` of `partition` was handed out.
  void delivered(const topic_partition& partition, std::int64_t offset);
  // It was acked (or otherwise settled for good). False when it was not
  // outstanding (acked twice, or its partition was revoked meanwhile).
  bool acked(const topic_partition& partition, std::int64_t offset);

  // The offset to commit for `partition` now, when it moved since the last
  // call to committed(); nullopt when there is nothing new to commit.
  std::optional<std::int64_t> to_commit(const topic_partition& partition) const;
  // What to_commit() returned was committed.
  void committed(const topic_partition& partition, std::int64_t offset);

  // The partition was revoked: forget it (acks for it are then refused).
  void revoked(const topic_partition& partition) { partitions_.erase(partition); }

  std::size_t outstanding() const noexcept;
  // The partitions with something to commit or outstanding.
  std::set<topic_partition> partitions() const;

 private:
  struct state {
    std::set<std::int64_t> outstanding;  // delivered, not acked
    std::int64_t next = -1;              // one past the highest delivered
    std::int64_t committed = -1;         // the last offset committed
  };
  std::map<topic_partition, state> partitions_;
};

}  // namespace brokerside::protocol::kafka
