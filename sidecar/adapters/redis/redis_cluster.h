// A Redis Cluster target's nodes: a pool per master (the target's pool
// settings, credentials and TLS, with that node's address), made when the
// slot map first names it, and the map from the 16,384 slots to them —
// CLUSTER SHARDS (CLUSTER SLOTS before Redis 7.0) asked through the target's
// own pool, whose URLs are the seeds, at start, every refresh interval, and
// after a MOVED or a node found unreachable (at most once a second). Each Send goes to the node of
// its keys' slot; an operation a node answers MOVED or ASK for is run on the node named (after
// ASKING, for an ASK), with what is left of its deadline. route() and the redirections may come
// from any thread; the map is behind a mutex, held for a lookup.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "pool/target_pool.h"
#include "protocol/redis/cluster.h"
#include "sidecar/operation_adapter.h"
#include "sidecar/target_settings.h"

namespace brokerside::sidecar {

class redis_cluster final : public target_service,
                            public std::enable_shared_from_this<redis_cluster> {
 public:
  // `replicas`, if not null, makes the connections to replicas that
  // read-only commands go to (read_from_replicas).
  redis_cluster(std::shared_ptr<const target_settings> target,
                std::shared_ptr<pool::connection_factory> factory,
                std::shared_ptr<pool::connection_factory> replicas,
                boost::asio::any_io_executor executor, pool::millis refresh_interval);

  // target_service: `seeds` is the target's own pool (its URLs: the seed
  // nodes), which asks for the map and serves keyless commands.
  void attach(std::shared_ptr<pool::target_pool> seeds) override;
  // Ready once the first slot map is read.
  void watch_ready(std::function<void(bool)> changed) override;
  void start() override;
  // Stops the nodes' pools (from outside the io threads, waiting up to 5 s).
  void stop() override;
  void node_stats(std::function<void(std::vector<pool::target_stats>)> done) const override;

  // The pool of the node serving `slot`; the seeds' while the map does not
  // say (a MOVED then redirects it).
  std::shared_ptr<pool::target_pool> pool_for(std::uint16_t slot);
  bool reads_from_replicas() const noexcept { return replica_factory_ != nullptr; }
  // A replica of `slot`'s master (in turn), or the master's pool where it
  // has none the map knows.
  std::shared_ptr<pool::target_pool> pool_for_read(std::uint16_t slot);
  // The pool and address of the master serving `slot`, or nullopt while
  // the map does not say.
  std::optional<std::pair<std::shared_ptr<pool::target_pool>, std::string>> node_for(
      std::uint16_t slot);
  // Every master's address and pool, in the order of their addresses
  // (none while the map is not known).
  std::vector<std::pair<std::string, std::shared_ptr<pool::target_pool>>> masters() const;
  const std::string& name() const noexcept { return target_->name; }
  // The target's settings, with node `address` ("host:port") as its only
  // URL and "target@address" as its name: what a node's pool and
  // subscriber connections use.
  std::shared_ptr<const target_settings> node_settings(const std::string& address) const;
  // The address of the master serving `slot` in the map, or empty while the
  // map does not say.
  std::string master_of(std::uint16_t slot) const;
  // Asks for the map again soon (at most once a second).
  void refresh_soon();
  // The pool of the master at `address`, or null if it is not one now.
  std::shared_ptr<pool::target_pool> pool_of(std::string_view address) const;

 private:
  // Under mutex_: the pool of `address`, made (and started) if new.
  std::shared_ptr<pool::target_pool> node_pool(const std::string& address);
  // Under mutex_: the pool of replica `address`, made (and started) if new.
  std::shared_ptr<pool::target_pool> replica_pool(const std::string& address);
  // A pool for `address` with connections from `factory`, started.
  std::shared_ptr<pool::target_pool> make_pool(const std::string& address,
                                               std::shared_ptr<pool::connection_factory> factory);
  // redirected(), for as long as this lives, as the pools take it; `host`
  // is the pool's node's, which a redirection to ":port" means (a node that
  // does not know its own endpoint: cluster-preferred-endpoint-type
  // unknown-endpoint).
  pool::target_pool::redirect_fn redirector(std::string host);
  void redirected(const std::string& host, const pool::attempt_result& why,
                  pool::target_pool::attempt_fn attempt, bool idempotent, pool::time_point deadline,
                  pool::target_pool::outcome_fn done, std::shared_ptr<pool::caller_gone> caller);
  // Asks for the map (CLUSTER SHARDS, else CLUSTER SLOTS) and applies it.
  void refresh(bool shards = true);
  void apply(const std::vector<protocol::redis::cluster_shard>& shards);
  void arm(pool::millis after);

  std::shared_ptr<const target_settings> target_;      // seeds, credentials, TLS, pool settings
  std::shared_ptr<pool::connection_factory> factory_;  // the target's (shared by every node)
  std::shared_ptr<pool::connection_factory> replica_factory_;  // READONLY; null: no replica reads
  boost::asio::any_io_executor executor_;                      // the nodes' pools run here
  pool::timer timer_;                                          // the next refresh
  pool::millis interval_;                                      // between refreshes
  std::shared_ptr<pool::target_pool> seeds_;                   // the target's own pool

  mutable std::mutex mutex_;  // guards what follows
  protocol::redis::slot_table map_;
  std::map<std::string, std::shared_ptr<pool::target_pool>> pools_;  // by address
  std::set<std::string> unreachable_;  // nodes whose pools say they are not healthy
  std::map<std::string, std::vector<std::string>> replicas_;  // by master, from the last map
  std::map<std::string, std::shared_ptr<pool::target_pool>> replica_pools_;  // by address
  std::uint64_t next_replica_ = 0;                                           // reads in turn
  pool::time_point last_refresh_{};  // when the last refresh was asked
  bool refreshing_ = false;          // a refresh is under way
  bool mapped_ = false;              // a map was read
  std::function<void(bool)> ready_;  // told once mapped_
  bool stopped_ = false;
};

}  // namespace brokerside::sidecar
