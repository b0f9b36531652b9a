#include "pool/deadline_queue.h"

#include <utility>

namespace brokerside::pool {

void deadline_queue::push(std::shared_ptr<deadline_entry> entry) {
  heap_.emplace_back();
  place(heap_.size() - 1, std::move(entry));
  sift_up(heap_.size() - 1);
}

bool deadline_queue::erase(deadline_entry& entry) {
  const auto at = entry.queued_at;
  if (at >= heap_.size() || heap_[at].get() != &entry) return false;
  remove_at(at);
  return true;
}

std::shared_ptr<deadline_entry> deadline_queue::pop_due(time_point now) {
  if (heap_.empty() || heap_.front()->deadline > now) return nullptr;
  return remove_at(0);
}

std::optional<time_point> deadline_queue::next() const {
  if (heap_.empty()) return std::nullopt;
  return heap_.front()->deadline;
}

std::vector<std::shared_ptr<deadline_entry>> deadline_queue::take_all() {
  for (auto& entry : heap_) entry->queued_at = deadline_entry::not_queued;
  return std::exchange(heap_, {});
}

void deadline_queue::place(std::size_t at, std::shared_ptr<deadline_entry> entry) {
  entry->queued_at = at;
  heap_[at] = std::move(entry);
}

void deadline_queue::sift_up(std::size_t at) {
  auto entry = std::move(heap_[at]);
  while (at > 0) {
    const auto parent = (at - 1) / 2;
    if (!(entry->deadline < heap_[parent]->deadline)) break;
    place(at, std::move(heap_[parent]));
    at = parent;
  }
  place(at, std::move(entry));
}

void deadline_queue::sift_down(std::size_t at) {
  auto entry = std::move(heap_[at]);
  const auto n = heap_.size();
  for (;;) {
    auto child = 2 * at + 1;
    if (child >= n) break;
    if (child + 1 < n && heap_[child + 1]->deadline < heap_[child]->deadline) ++child;
    if (!(heap_[child]->deadline < entry->deadline)) break;
    place(at, std::move(heap_[child]));
    at = child;
  }
  place(at, std::move(entry));
}

std::shared_ptr<deadline_entry> deadline_queue::remove_at(std::size_t at) {
  auto removed = std::move(heap_[at]);
  removed->queued_at = deadline_entry::not_queued;
  auto last = std::move(heap_.back());
  heap_.pop_back();
  if (at < heap_.size()) {
    const bool earlier = last->deadline < removed->deadline;
    place(at, std::move(last));
    if (earlier) {
      sift_up(at);
    } else {
      sift_down(at);
    }
  }
  return removed;
}

}  // namespace brokerside::pool
