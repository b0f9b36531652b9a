// A FIFO whose storage exists only while it holds something. libstdc++'s
// std::deque allocates 576 bytes (its map and a first block) even empty, and
// a node runs thousands of queues that are empty nearly all the time: a Recv
// stream's outbox, an AMQP channel's replies awaited. Filling it again costs
// two small allocations, far less than the I/O that fills it. A push never
// moves the elements already in it (std::deque's guarantee), so a pointer to
// front() stays valid until it is popped.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <utility>

namespace brokerside::protocol {

template <typename T>
class lazy_deque {
 public:
  bool empty() const noexcept { return !q_; }  // q_ is never empty
  std::size_t size() const noexcept { return q_ ? q_->size() : 0; }
  T& front() { return q_->front(); }
  const T& front() const { return q_->front(); }

  void push_back(T value) {
    if (!q_) q_ = std::make_unique<std::deque<T>>();
    q_->push_back(std::move(value));
  }
  void pop_front() {
    q_->pop_front();
    if (q_->empty()) q_.reset();
  }
  void clear() noexcept { q_.reset(); }
  // Drops everything but the front (being written, say).
  void keep_front() {
    if (q_) q_->erase(q_->begin() + 1, q_->end());
  }
  // Everything, in order, leaving this empty.
  std::deque<T> take() {
    auto q = std::exchange(q_, nullptr);
    return q ? std::move(*q) : std::deque<T>();
  }

 private:
  std::unique_ptr<std::deque<T>> q_;  // null while empty
};

}  // namespace brokerside::protocol
