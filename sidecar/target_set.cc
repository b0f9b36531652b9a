#include "sidecar/target_set.h"

#include <future>
#include <map>
#include <mutex>

namespace brokerside::sidecar {

target_set::target_set(boost::asio::any_io_executor executor, const config& cfg) : config_(cfg) {
  for (const auto& target : cfg.targets) {
    entry e{&target, nullptr, nullptr, {}, nullptr, std::make_shared<target_observations>()};
    auto binding =
        target.adapter->implemented() ? target.adapter->make(target, executor) : adapter_binding{};
    if (binding.connections) {
      e.pool = pool::target_pool::create(executor, target, std::move(binding.connections));
      e.operations = std::move(binding.operations);
      e.service = std::move(binding.service);
      if (e.service) e.service->attach(e.pool);
    } else {
      e.missing = std::move(binding.missing);
    }
    targets_.emplace(target.name, std::move(e));
  }
}

void target_set::start(std::function<void(const std::string&, bool)> health) {
  // A target is healthy while its pool is and its service (if any) is
  // ready; either may change on any thread.
  struct health_state {
    std::mutex mutex;
    bool pool = false;
    bool service = true;
  };
  std::map<std::string, std::shared_ptr<health_state>> states;
  auto report = [health](const std::string& name, health_state& st) {
    if (health) health(name, st.pool && st.service);
  };
  for (auto& [name, e] : targets_) {
    auto st = states[name] = std::make_shared<health_state>();
    if (!e.service) continue;
    e.service->watch_ready([st, report, name = name](bool ready) {
      std::lock_guard lock(st->mutex);
      if (st->service == ready) return;
      st->service = ready;
      report(name, *st);
    });
  }
  for (auto& [name, e] : targets_) {
    if (e.service) e.service->start();
  }
  for (auto& [name, e] : targets_) {
    if (!e.pool) continue;
    e.pool->start([st = states[name], report, name = name](bool healthy) {
      std::lock_guard lock(st->mutex);
      st->pool = healthy;
      report(name, *st);
    });
  }
}

void target_set::stop() {
  for (auto& [name, e] : targets_) {
    if (e.service) e.service->stop();
  }
  std::vector<std::future<void>> stopped;
  for (auto& [name, e] : targets_) {
    if (!e.pool) continue;
    auto done = std::make_shared<std::promise<void>>();
    stopped.push_back(done->get_future());
    e.pool->stop([done] { done->set_value(); });
  }
  // Called from outside the io threads: wait, briefly, for connections to close.
  for (auto& f : stopped) f.wait_for(std::chrono::seconds(5));
}

const target_set::entry* target_set::find(std::string_view name) const {
  const auto it = targets_.find(name);
  return it == targets_.end() ? nullptr : &it->second;
}

std::string target_set::client_lease_id(const std::string& target, const std::string& id) {
  return target + "/" + id;
}

std::optional<std::pair<target_set::entry, std::string>> target_set::find_lease(
    std::string_view lease) const {
  const auto slash = lease.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const auto* found = find(lease.substr(0, slash));
  if (found == nullptr || !found->pool) return std::nullopt;
  auto e = *found;
  auto id = lease.substr(slash + 1);
  // "target/tag/id": a lease of one of the target's nodes (Redis Cluster).
  if (const auto last = id.rfind('/'); last != std::string_view::npos) {
    auto node = e.operations ? e.operations->lease_pool(id.substr(0, last)) : nullptr;
    if (!node) return std::nullopt;
    e.pool = std::move(node);
    id = id.substr(last + 1);
  }
  return std::pair{std::move(e), std::string(id)};
}

void target_set::stats(std::function<void(std::map<std::string, pool::target_stats>)> done) const {
  struct gather {
    std::mutex mutex;
    std::map<std::string, pool::target_stats> by_target;
    std::size_t left = 0;
    std::function<void(std::map<std::string, pool::target_stats>)> done;

    void add(const std::string& name, pool::target_stats s) {
      std::unique_lock lock(mutex);
      by_target.emplace(name, std::move(s));
      if (--left != 0) return;
      auto all = std::move(by_target);
      lock.unlock();
      done(std::move(all));
    }
  };
  auto g = std::make_shared<gather>();
  g->done = std::move(done);
  for (const auto& [name, e] : targets_) g->left += e.pool ? 1 : 0;
  if (g->left == 0) {
    g->done({});
    return;
  }
  for (const auto& [name, e] : targets_) {
    if (!e.pool) continue;
    e.pool->stats([g, name = name, service = e.service](pool::target_stats s) {
      if (!service) return g->add(name, std::move(s));
      // With the pools of the target's nodes, where it has them.
      service->node_stats(
          [g, name, s = std::move(s)](std::vector<pool::target_stats> nodes) mutable {
            s.nodes = std::move(nodes);
            g->add(name, std::move(s));
          });
    });
  }
}

}  // namespace brokerside::sidecar
