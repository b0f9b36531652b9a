// The deadlines of a pool's attempts in flight, earliest first: one timer of
// the pool wakes for the earliest instead of an Asio timer per attempt (whose
// arming and cancelling, a locked reactor queue and a posted completion
// each, cost more than the attempt's own work on a pipelined connection).
// Sans-io: no clock, no timer.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

#include "pool/time.h"

namespace brokerside::pool {

// What the queue orders: its owner derives from it. The queue keeps one
// reference while it holds the entry.
struct deadline_entry {
  static constexpr std::size_t not_queued = static_cast<std::size_t>(-1);
  time_point deadline;
  std::size_t queued_at = not_queued;  // its place in the queue, kept by the queue
};

class deadline_queue {
 public:
  // Queues `entry` at entry->deadline; it must not be queued already.
  void push(std::shared_ptr<deadline_entry> entry);
  // Takes `entry` out; false if it was not queued. O(log n).
  bool erase(deadline_entry& entry);
  // The earliest entry whose deadline is at or before `now`, taken out; null if none.
  std::shared_ptr<deadline_entry> pop_due(time_point now);
  // The earliest deadline, if any.
  std::optional<time_point> next() const;
  // Every entry, taken out (a stopping pool settles them).
  std::vector<std::shared_ptr<deadline_entry>> take_all();
  std::size_t size() const noexcept { return heap_.size(); }

 private:
  void place(std::size_t at, std::shared_ptr<deadline_entry> entry);
  void sift_up(std::size_t at);
  void sift_down(std::size_t at);
  std::shared_ptr<deadline_entry> remove_at(std::size_t at);

  std::vector<std::shared_ptr<deadline_entry>> heap_;  // a binary min-heap on deadline
};

}  // namespace brokerside::pool
