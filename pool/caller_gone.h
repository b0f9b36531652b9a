// Whether the caller of some operations has gone (its SendStream cancelled:
// the client closed it, vanished or was killed). The pools drop its
// operations that still wait for a connection at once, instead of keeping
// their places in the queue until acquire_timeout and then running them at
// the broker for nobody — as Envoy drops a pending request whose downstream
// reset; one waiting between retries ends when its backoff does, not
// retried. An operation already handed to a connection runs on: the broker
// may have it, and its answer is dropped.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

namespace brokerside::pool {

class target_pool;

// One per caller, shared by its operations (target_pool::execute). Safe from
// any thread.
class caller_gone {
 public:
  bool gone() const noexcept { return gone_.load(std::memory_order_acquire); }

  // The caller went away: every pool holding a waiting operation of it is
  // asked to drop them. Once; later calls do nothing.
  void set();

  // On `pool`'s strand: an operation of this caller waits there for a
  // connection, so set() must tell it. Returns whether the caller is gone
  // already (then set() may not: the pool looks itself).
  bool watch(const std::shared_ptr<target_pool>& pool);

 private:
  std::atomic<bool> gone_{false};
  std::mutex mutex_;                               // guards pools_
  std::vector<std::weak_ptr<target_pool>> pools_;  // where operations wait
};

}  // namespace brokerside::pool
