#include "sidecar/recv_registry.h"

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "brokerside/v1/brokerside.pb.h"

namespace brokerside::sidecar {

struct recv_registry::shared {
  std::mutex mutex;
  std::condition_variable idle;                         // signalled as handles drop
  std::map<std::uint64_t, std::weak_ptr<member>> open;  // by registration number
  std::uint64_t next = 0;
  std::optional<grpc::Status> ended;  // end_all()'s status, once it has run
};

recv_registry::recv_registry() : shared_(std::make_shared<shared>()) {}

std::shared_ptr<void> recv_registry::add(std::weak_ptr<member> stream) {
  std::unique_lock lock(shared_->mutex);
  if (shared_->ended) {
    const auto status = *shared_->ended;
    lock.unlock();
    if (auto m = stream.lock()) m->drain(status);
    lock.lock();
  }
  const auto id = shared_->next++;
  shared_->open.emplace(id, std::move(stream));
  // A handle that owns nothing: its deleter is the unregistration.
  return {nullptr, [s = shared_, id](void*) {
            std::lock_guard lock(s->mutex);
            s->open.erase(id);
            if (s->open.empty()) s->idle.notify_all();
          }};
}

void recv_registry::end_all(const grpc::Status& status) {
  std::vector<std::shared_ptr<member>> ends;
  {
    std::lock_guard lock(shared_->mutex);
    shared_->ended = status;
    for (const auto& [id, stream] : shared_->open) {
      if (auto m = stream.lock()) ends.push_back(std::move(m));
    }
  }
  // Outside the lock: ending a stream may drop its handle.
  for (auto& m : ends) m->drain(status);
}

std::vector<std::pair<std::string, v1::SubscriptionStats>> recv_registry::describe_all() const {
  std::vector<std::shared_ptr<member>> streams;
  {
    std::lock_guard lock(shared_->mutex);
    for (const auto& [id, stream] : shared_->open) {
      if (auto m = stream.lock()) streams.push_back(std::move(m));
    }
  }
  // Outside the lock: a stream describes itself under its own.
  std::vector<std::pair<std::string, v1::SubscriptionStats>> all;
  for (const auto& m : streams) {
    std::string target;
    v1::SubscriptionStats stats;
    if (m->report(target, stats)) all.emplace_back(std::move(target), std::move(stats));
  }
  return all;
}

bool recv_registry::wait_idle(std::chrono::system_clock::time_point deadline) {
  std::unique_lock lock(shared_->mutex);
  return shared_->idle.wait_until(lock, deadline, [&] { return shared_->open.empty(); });
}

}  // namespace brokerside::sidecar
