// The configured targets at run time: each with its pool when this build has
// its adapter. Lease ids handed to clients carry their target's name
// ("cache/l-3f9a..."), so Renew and Release, which name only the lease, find
// the pool that holds it.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "pool/connection.h"
#include "pool/target_pool.h"
#include "sidecar/adapter_registry.h"
#include "sidecar/config.h"
#include "sidecar/target_observations.h"

namespace brokerside::sidecar {

class target_set {
 public:
  // Each target's binding comes from its adapter's descriptor (none when the
  // adapter is not implemented). `cfg` must outlive the set.
  target_set(boost::asio::any_io_executor executor, const config& cfg);

  // Starts every pool, and what adapters run beside them (a startup_error
  // names the setting that keeps one from starting); `health(target,
  // healthy)` follows each target.
  void start(std::function<void(const std::string&, bool)> health);
  // Stops every pool and waits (up to 5 s) until they have closed their
  // connections. Call it from outside the io threads.
  void stop();

  struct entry {
    const target_settings* config = nullptr;
    std::shared_ptr<pool::target_pool> pool;              // null: adapter not in this build
    std::shared_ptr<const operation_adapter> operations;  // null: as pool
    std::string missing;  // without a pool: why, if more is known than "no adapter"
    std::shared_ptr<target_service> service;        // beside the pool, if any
    std::shared_ptr<target_observations> observed;  // never null
  };
  // The target named `name`, or null. Entries live as long as the set.
  const entry* find(std::string_view name) const;

  // The target and the pool's own lease id in a client's lease id, or
  // nullopt if it names no configured target. A lease of one of the
  // target's nodes ("target/tag/id") comes with that node's pool as the
  // entry's pool.
  std::optional<std::pair<entry, std::string>> find_lease(std::string_view lease) const;
  static std::string client_lease_id(const std::string& target, const std::string& id);

  // Stats of every pooled target, gathered asynchronously: done(by target).
  void stats(std::function<void(std::map<std::string, pool::target_stats>)> done) const;

  const config& configuration() const noexcept { return config_; }

 private:
  const config& config_;
  std::map<std::string, entry, std::less<>> targets_;
};

}  // namespace brokerside::sidecar
