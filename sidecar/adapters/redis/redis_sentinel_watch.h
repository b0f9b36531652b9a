// A Sentinel-managed Redis target's watch on its sentinels: one connection
// to one of them (the target's URLs, in turn, reconnected with backoff by
// pool::link_set) that asks where the primary is as it comes up and is then
// subscribed to +switch-master; when the sentinels name a
// new primary for the target's master, every connection that enrolled with
// another primary is retired (the pool gives it no new work, closes it once
// its operations are answered, and connects again — through a sentinel, to
// the new primary). Runs on a strand of its own; enroll() from any thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "pool/link_set.h"
#include "protocol/redis/resp.h"
#include "protocol/redis/sentinel.h"
#include "sidecar/operation_adapter.h"
#include "sidecar/target_settings.h"

namespace brokerside::sidecar {

class redis_sentinel_watch final : public target_service,
                                   public std::enable_shared_from_this<redis_sentinel_watch> {
 public:
  // What an enrolled connection shares with the watch: whom it talks to,
  // and how to retire it (set by the pool through on_retire; called on
  // `executor`, at most once).
  struct member {
    protocol::redis::server_address primary;
    boost::asio::any_io_executor executor;
    std::function<void()> retire;  // the pool's, once it has given one
    bool wanted = false;           // the watch asked for it (perhaps before the pool gave one)
    bool retired = false;          // done

    // On `executor`: retire now if asked and not yet done.
    void settle() {
      if (!wanted || retired || !retire) return;
      retired = true;
      retire();
    }
  };

  // Connections to the sentinels come from `sentinels` (they speak to a
  // sentinel itself, not through one).
  redis_sentinel_watch(std::shared_ptr<const target_settings> target,
                       std::shared_ptr<pool::connection_factory> sentinels,
                       boost::asio::any_io_executor executor, std::string master);

  // A connection to `m->primary` follows the sentinels from now on, for as
  // long as `m` lives.
  void enroll(const std::shared_ptr<member>& m);

  void start() override;
  void stop() override;  // from outside the io threads

 private:
  void up(std::size_t index, std::uint64_t generation, pool::connection& conn);
  void pushed(const protocol::redis::value& v);
  // The sentinels name `to` as the primary (a +switch-master, or their
  // answer when the link comes up): connections to another are retired.
  void switched(const protocol::redis::server_address& to);
  static void retire(const std::shared_ptr<member>& m);

  boost::asio::any_io_executor strand_;
  std::string master_;  // the monitored name
  pool::link_set links_;
  mutable std::mutex mutex_;  // guards what follows
  std::vector<std::weak_ptr<member>> members_;
  std::optional<protocol::redis::server_address> current_;  // the last primary a switch named
};

}  // namespace brokerside::sidecar
