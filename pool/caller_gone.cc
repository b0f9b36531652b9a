#include "pool/caller_gone.h"

#include "pool/target_pool.h"

namespace brokerside::pool {

void caller_gone::set() {
  std::vector<std::weak_ptr<target_pool>> pools;
  {
    std::lock_guard lock(mutex_);
    if (gone_.exchange(true, std::memory_order_acq_rel)) return;
    pools.swap(pools_);
  }
  for (const auto& weak : pools) {
    if (auto pool = weak.lock()) pool->drop_gone_waiters();
  }
}

bool caller_gone::watch(const std::shared_ptr<target_pool>& pool) {
  std::lock_guard lock(mutex_);
  if (gone_.load(std::memory_order_relaxed)) return true;
  std::erase_if(pools_, [](const auto& known) { return known.expired(); });  // cluster nodes go
  for (const auto& known : pools_) {
    if (!known.owner_before(pool) && !pool.owner_before(known)) return false;
  }
  pools_.push_back(pool);
  return false;
}

}  // namespace brokerside::pool
