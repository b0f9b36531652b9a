#include "sidecar/adapters/redis/redis_cluster.h"

#include <spdlog/spdlog.h>

#include <future>

#include "pool/errc.h"
#include "protocol/io_strand.h"
#include "sidecar/adapters/redis/redis_pooled_connection.h"

namespace brokerside::sidecar {
namespace {

namespace redis = protocol::redis;

// How many times one operation may be sent on to another node before it
// ends with the last node's words (a map changing under it settles sooner).
constexpr int max_redirects = 8;

// An attempt sent on by a redirection: how many times so far, and whether
// it goes after an ASKING (an ASK: the slot is moving to this node, which
// serves it to a client that says so first, for one command).
struct redirected_attempt {
  pool::target_pool::attempt_fn inner;
  int hops = 0;
  bool asking = false;

  void operator()(pool::connection& conn, boost::asio::cancellation_slot cancel,
                  pool::target_pool::attempt_done done) const {
    if (asking) {
      // Pipelined: the command follows it on the same connection. Its own
      // answer (+OK) is of no interest; a failure shows in the command's.
      static_cast<redis_pooled_connection&>(conn).redis().execute(
          {"ASKING"}, [](std::error_code, redis::value, bool) {});
    }
    inner(conn, cancel, std::move(done));
  }
};

// The URL of node `address` ("host:port"): the first seed's, there.
pool::broker_url node_url(const pool::broker_url& seed, const std::string& address) {
  pool::broker_url url = seed;
  const auto colon = address.rfind(':');
  url.host = address.substr(0, colon);
  url.port = static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1)));
  url.unix_path.clear();
  url.redacted =
      url.scheme + "://" +
      (url.host.find(':') != std::string::npos ? "[" + url.host + "]:" + std::to_string(url.port)
                                               : address);
  return url;
}

std::string describe(const std::vector<std::pair<std::uint16_t, std::uint16_t>>& ranges) {
  std::string out = "slots ";
  for (const auto& [first, last] : ranges) {
    if (out.size() > 6) out += ",";
    out += std::to_string(first);
    if (last != first) {
      out += '-';
      out += std::to_string(last);
    }
  }
  return out;
}

}  // namespace

redis_cluster::redis_cluster(std::shared_ptr<const target_settings> target,
                             std::shared_ptr<pool::connection_factory> factory,
                             std::shared_ptr<pool::connection_factory> replicas,
                             boost::asio::any_io_executor executor, pool::millis refresh_interval)
    : target_(std::move(target)),
      factory_(std::move(factory)),
      replica_factory_(std::move(replicas)),
      executor_(std::move(executor)),
      timer_(protocol::make_io_strand(executor_)),
      interval_(refresh_interval) {}

void redis_cluster::attach(std::shared_ptr<pool::target_pool> seeds) {
  seeds_ = std::move(seeds);
  // (Which seed answered is not known here: the first's host is taken.)
  seeds_->on_redirect(redirector(target_->urls.front().host));
}

pool::target_pool::redirect_fn redis_cluster::redirector(std::string host) {
  return [weak = weak_from_this(), host = std::move(host)](
             const pool::attempt_result& why, pool::target_pool::attempt_fn attempt,
             bool idempotent, pool::time_point deadline, pool::target_pool::outcome_fn done,
             std::shared_ptr<pool::caller_gone> caller) {
    if (auto self = weak.lock()) {
      self->redirected(host, why, std::move(attempt), idempotent, deadline, std::move(done),
                       std::move(caller));
    } else {
      done(make_error_code(pool::errc::shutting_down), {});
    }
  };
}

void redis_cluster::watch_ready(std::function<void(bool)> changed) {
  std::lock_guard lock(mutex_);
  ready_ = std::move(changed);
  ready_(false);
}

void redis_cluster::start() { arm(pool::millis(0)); }

void redis_cluster::stop() {
  std::map<std::string, std::shared_ptr<pool::target_pool>> pools;
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    pools.swap(pools_);
    pools.merge(replica_pools_);
  }
  boost::asio::post(timer_.get_executor(), [self = shared_from_this()] { self->timer_.cancel(); });
  std::vector<std::future<void>> stopped;
  for (auto& [address, p] : pools) {
    auto done = std::make_shared<std::promise<void>>();
    stopped.push_back(done->get_future());
    p->stop([done] { done->set_value(); });
  }
  for (auto& f : stopped) f.wait_for(std::chrono::seconds(5));
}

std::shared_ptr<pool::target_pool> redis_cluster::pool_for(std::uint16_t slot) {
  bool down = false;
  std::shared_ptr<pool::target_pool> p = seeds_;
  {
    std::lock_guard lock(mutex_);
    if (const auto node = map_.node(slot)) {
      if (const auto it = pools_.find(std::string(*node)); it != pools_.end()) {
        down = unreachable_.contains(it->first);
        // An unreachable master's slots go to the seeds, which redirect them
        // to whoever serves them: its replica, once promoted, before the
        // map is read again.
        if (!down) p = it->second;
      }
    }
  }
  if (down) refresh_soon();
  return p;
}

std::optional<std::pair<std::shared_ptr<pool::target_pool>, std::string>> redis_cluster::node_for(
    std::uint16_t slot) {
  std::lock_guard lock(mutex_);
  const auto node = map_.node(slot);
  if (!node) return std::nullopt;
  const auto it = pools_.find(std::string(*node));
  if (it == pools_.end()) return std::nullopt;
  return std::pair{it->second, it->first};
}

std::vector<std::pair<std::string, std::shared_ptr<pool::target_pool>>> redis_cluster::masters()
    const {
  std::lock_guard lock(mutex_);
  return {pools_.begin(), pools_.end()};
}

std::shared_ptr<pool::target_pool> redis_cluster::pool_of(std::string_view address) const {
  std::lock_guard lock(mutex_);
  const auto it = pools_.find(std::string(address));
  return it == pools_.end() ? nullptr : it->second;
}

std::shared_ptr<pool::target_pool> redis_cluster::node_pool(const std::string& address) {
  if (const auto it = pools_.find(address); it != pools_.end()) return it->second;
  return pools_.emplace(address, make_pool(address, factory_)).first->second;
}

std::shared_ptr<pool::target_pool> redis_cluster::replica_pool(const std::string& address) {
  if (const auto it = replica_pools_.find(address); it != replica_pools_.end()) return it->second;
  return replica_pools_.emplace(address, make_pool(address, replica_factory_)).first->second;
}

std::shared_ptr<const target_settings> redis_cluster::node_settings(
    const std::string& address) const {
  auto settings = std::make_shared<target_settings>(*target_);
  settings->name = target_->name + "@" + address;
  settings->urls = {node_url(target_->urls.front(), address)};
  return settings;
}

std::string redis_cluster::master_of(std::uint16_t slot) const {
  std::lock_guard lock(mutex_);
  const auto node = map_.node(slot);
  return node ? std::string(*node) : std::string();
}

std::shared_ptr<pool::target_pool> redis_cluster::make_pool(
    const std::string& address, std::shared_ptr<pool::connection_factory> factory) {
  pool::target_config config = *node_settings(address);
  auto host = config.urls.front().host;
  auto p = pool::target_pool::create(executor_, std::move(config), std::move(factory));
  p->on_redirect(redirector(std::move(host)));
  // A node that cannot be reached may have failed over: read the map again.
  p->start([weak = weak_from_this(), address](bool healthy) {
    auto self = weak.lock();
    if (!self) return;
    {
      std::lock_guard lock(self->mutex_);
      if (healthy) {
        self->unreachable_.erase(address);
      } else {
        self->unreachable_.insert(address);
      }
    }
    if (!healthy) self->refresh_soon();
  });
  return p;
}

std::shared_ptr<pool::target_pool> redis_cluster::pool_for_read(std::uint16_t slot) {
  {
    std::lock_guard lock(mutex_);
    if (const auto node = map_.node(slot)) {
      const auto it = replicas_.find(std::string(*node));
      if (it != replicas_.end()) {
        // In turn, passing over replicas whose pools find them unreachable.
        for (std::size_t tries = 0; tries < it->second.size(); ++tries) {
          const auto& address = it->second[next_replica_++ % it->second.size()];
          if (!unreachable_.contains(address)) return replica_pool(address);
        }
      }
    }
  }
  return pool_for(slot);
}

void redis_cluster::redirected(const std::string& host, const pool::attempt_result& why,
                               pool::target_pool::attempt_fn attempt, bool idempotent,
                               pool::time_point deadline, pool::target_pool::outcome_fn done,
                               std::shared_ptr<pool::caller_gone> caller) {
  redirected_attempt next;
  if (auto* before = attempt.target<redirected_attempt>()) {
    next = std::move(*before);
  } else {
    next.inner = std::move(attempt);
  }
  if (++next.hops > max_redirects) {
    return done(why.error, why.detail + " (after " + std::to_string(max_redirects) +
                               " redirections: the cluster's slot map keeps changing)");
  }
  next.asking = why.redirect_once;
  // ":6381": the same host as the node that answered.
  const auto address = why.redirect.starts_with(':') ? host + why.redirect : why.redirect;
  std::shared_ptr<pool::target_pool> to;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return done(make_error_code(pool::errc::shutting_down), {});
    if (!why.redirect_once) {
      // The detail carries the node's words: "redis: MOVED 3999 host:port".
      const auto at = why.detail.find("MOVED ");
      if (at != std::string::npos) {
        if (const auto r = redis::parse_redirection(std::string_view(why.detail).substr(at))) {
          map_.move(r->slot, address);
        }
      }
    }
    to = node_pool(address);
  }
  // A MOVED says the map changed: more than this slot, likely.
  if (!why.redirect_once) refresh_soon();
  to->execute(std::move(next), idempotent, deadline, std::move(done), std::move(caller));
}

void redis_cluster::refresh_soon() {
  {
    std::lock_guard lock(mutex_);
    const auto now = pool::clock::now();
    if (stopped_ || refreshing_ || now - last_refresh_ < std::chrono::seconds(1)) return;
    refreshing_ = true;
    last_refresh_ = now;
  }
  refresh();
}

void redis_cluster::arm(pool::millis after) {
  boost::asio::post(timer_.get_executor(), [self = shared_from_this(), after] {
    self->timer_.expires_after(after);
    self->timer_.async_wait([weak = self->weak_from_this()](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      {
        std::lock_guard lock(self->mutex_);
        if (self->stopped_) return;
        if (!self->refreshing_) {
          self->refreshing_ = true;
          self->last_refresh_ = pool::clock::now();
        }
      }
      self->refresh();
      self->arm(self->interval_);
    });
  });
}

void redis_cluster::refresh(bool shards) {
  auto reply = std::make_shared<redis::value>();
  auto ask = [reply, shards](pool::connection& conn, boost::asio::cancellation_slot,
                             pool::target_pool::attempt_done done) {
    static_cast<redis_pooled_connection&>(conn).redis().execute(
        {"CLUSTER", shards ? "SHARDS" : "SLOTS"},
        [reply, done = std::move(done)](std::error_code ec, redis::value v, bool written) {
          if (ec)
            return done({ec, pool::failure_kind::connection, written, "redis: " + ec.message()});
          *reply = std::move(v);
          done({});
        });
  };
  const auto deadline =
      pool::clock::now() + target_->pool.connect_timeout + target_->pool.acquire_timeout;
  seeds_->execute(std::move(ask), true, deadline,
                  [weak = weak_from_this(), reply, shards](std::error_code ec, std::string detail) {
                    auto self = weak.lock();
                    if (!self) return;
                    auto finished = [&self] {
                      std::lock_guard lock(self->mutex_);
                      self->refreshing_ = false;
                    };
                    if (ec) {
                      spdlog::warn("target '{}': the cluster's slot map could not be read: {}",
                                   self->target_->name, detail.empty() ? ec.message() : detail);
                      return finished();
                    }
                    if (reply->type == redis::resp_type::error && shards) {
                      return self->refresh(false);  // before Redis 7.0: CLUSTER SLOTS
                    }
                    const bool tls = self->target_->urls.front().tls;
                    auto map = shards ? redis::parse_cluster_shards(*reply, tls)
                                      : redis::parse_cluster_slots(*reply);
                    if (!map || map->empty()) {
                      spdlog::warn("target '{}': the cluster's slot map is {}", self->target_->name,
                                   reply->type == redis::resp_type::error
                                       ? "refused: " + reply->text
                                       : std::string("not one brokerside can read"));
                      return finished();
                    }
                    self->apply(*map);
                    finished();
                  });
}

void redis_cluster::apply(const std::vector<redis::cluster_shard>& shards) {
  std::vector<std::shared_ptr<pool::target_pool>> gone;
  std::function<void(bool)> now_ready;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    map_.assign(shards);
    if (!std::exchange(mapped_, true)) now_ready = ready_;
    for (const auto& shard : shards) node_pool(shard.master);
    // A node that serves no slot any more (a master failed over, or removed)
    // loses its pool: what is on it ends, what comes is routed by the map.
    for (auto it = pools_.begin(); it != pools_.end();) {
      const bool serves = std::any_of(shards.begin(), shards.end(),
                                      [&](const auto& s) { return s.master == it->first; });
      if (serves) {
        ++it;
      } else {
        gone.push_back(std::move(it->second));
        unreachable_.erase(it->first);
        it = pools_.erase(it);
      }
    }
    if (replica_factory_) {
      replicas_.clear();
      for (const auto& shard : shards) replicas_[shard.master] = shard.replicas;
      for (auto it = replica_pools_.begin(); it != replica_pools_.end();) {
        const bool replica = std::any_of(shards.begin(), shards.end(), [&](const auto& s) {
          return std::find(s.replicas.begin(), s.replicas.end(), it->first) != s.replicas.end();
        });
        if (replica) {
          ++it;
        } else {
          gone.push_back(std::move(it->second));
          unreachable_.erase(it->first);
          it = replica_pools_.erase(it);
        }
      }
    }
  }
  for (auto& p : gone) p->stop();
  if (now_ready) now_ready(true);
}

void redis_cluster::node_stats(std::function<void(std::vector<pool::target_stats>)> done) const {
  struct gather {
    std::mutex mutex;
    std::vector<pool::target_stats> nodes;
    std::size_t left = 0;
    std::function<void(std::vector<pool::target_stats>)> done;
  };
  auto g = std::make_shared<gather>();
  g->done = std::move(done);
  struct node {
    std::shared_ptr<pool::target_pool> pool;
    std::string address, serves;
  };
  std::vector<node> nodes;
  {
    std::lock_guard lock(mutex_);
    const auto ranges = map_.ranges();
    for (const auto& [address, p] : pools_) {
      std::string serves = "no slots";
      for (const auto& [owner, r] : ranges) {
        if (owner == address) serves = describe(r);
      }
      nodes.push_back({p, address, std::move(serves)});
    }
    for (const auto& [address, p] : replica_pools_) {
      std::string serves = "reads, as a replica";
      for (const auto& [master, replicas] : replicas_) {
        if (std::find(replicas.begin(), replicas.end(), address) != replicas.end()) {
          serves += " of " + master;
        }
      }
      nodes.push_back({p, address, std::move(serves)});
    }
  }
  g->left = nodes.size();
  if (g->left == 0) return g->done({});
  for (auto& n : nodes) {
    n.pool->stats([g, address = n.address, serves = n.serves](pool::target_stats s) {
      s.node = address;
      s.serves = serves;
      std::unique_lock lock(g->mutex);
      g->nodes.push_back(std::move(s));
      if (--g->left != 0) return;
      auto all = std::move(g->nodes);
      lock.unlock();
      std::sort(all.begin(), all.end(),
                [](const auto& a, const auto& b) { return a.node < b.node; });
      g->done(std::move(all));
    });
  }
}

}  // namespace brokerside::sidecar
