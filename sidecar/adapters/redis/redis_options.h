// A Redis target's own settings (targets.<name>.subscriber_connections),
// read by the Redis adapter's descriptor.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "sidecar/target_settings.h"

namespace brokerside::sidecar {

struct redis_options final : adapter_options {
  // The most connections the target's Recv streams share for their
  // channels and patterns (each source subscribed once, on the least loaded).
  std::uint32_t subscriber_connections = 4;
  // A Redis Cluster (also set by the redis+cluster:// and rediss+cluster://
  // schemes): the URLs are seed nodes, each command goes to the master of
  // its keys' slot (sidecar/adapters/redis/redis_cluster.h).
  bool cluster = false;
  // A Sentinel-managed primary (the redis+sentinel:// and rediss+sentinel://
  // schemes): each URL a sentinel, its path the master's name.
  bool sentinel = false;
  // The sentinels' own login (their requirepass / ACL user), where they
  // ask for one: the target's URL credentials are the primary's.
  std::string sentinel_username, sentinel_password;
  // A cluster's read-only commands go to a replica of their slot's master
  // (READONLY connections; what they read may lag the master's writes).
  bool read_from_replicas = false;
  // How often a cluster's slot map is read again (besides after a MOVED).
  std::chrono::milliseconds cluster_refresh_interval{10000};
};

}  // namespace brokerside::sidecar
