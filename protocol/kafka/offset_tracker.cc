#include "protocol/kafka/offset_tracker.h"

#include <algorithm>

namespace brokerside::protocol::kafka {

void offset_tracker::delivered(const topic_partition& partition, std::int64_t offset) {
  auto& p = partitions_[partition];
  p.outstanding.insert(offset);
  p.next = std::max(p.next, offset + 1);
}

bool offset_tracker::acked(const topic_partition& partition, std::int64_t offset) {
  const auto it = partitions_.find(partition);
  return it != partitions_.end() && it->second.outstanding.erase(offset) == 1;
}

std::optional<std::int64_t> offset_tracker::to_commit(const topic_partition& partition) const {
  const auto it = partitions_.find(partition);
  if (it == partitions_.end() || it->second.next < 0) return std::nullopt;
  const auto& p = it->second;
  const auto offset = p.outstanding.empty() ? p.next : *p.outstanding.begin();
  if (offset <= p.committed) return std::nullopt;
  return offset;
}

void offset_tracker::committed(const topic_partition& partition, std::int64_t offset) {
  const auto it = partitions_.find(partition);
  if (it != partitions_.end()) it->second.committed = std::max(it->second.committed, offset);
}

std::size_t offset_tracker::outstanding() const noexcept {
  std::size_t n = 0;
  for (const auto& [partition, p] : partitions_) n += p.outstanding.size();
  return n;
}

std::set<topic_partition> offset_tracker::partitions() const {
  std::set<topic_partition> out;
  for (const auto& [partition, p] : partitions_) out.insert(partition);
  return out;
}

}  // namespace brokerside::protocol::kafka
