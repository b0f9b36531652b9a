// The commands a Redis Cluster answers from every master together
// (protocol/redis/cluster.h's reach_of): DBSIZE, KEYS, SCAN, FLUSHALL,
// SCRIPT LOAD and their kind, split into a part per master and their
// replies put together as one server's would be.
#pragma once

#include <optional>

#include "sidecar/adapters/redis/redis_cluster.h"
#include "sidecar/operation_adapter.h"

namespace brokerside::sidecar {

// Sets `spread` where `request` is such a command on `cluster`; returns why
// it cannot run (the map not known yet: UNAVAILABLE; a SCAN cursor that is
// not one of ours: INVALID_ARGUMENT).
grpc::Status spread_on_cluster(const redis_cluster& cluster, const v1::SendRequest& request,
                               std::optional<operation_adapter::spread_operation>& spread);

}  // namespace brokerside::sidecar
