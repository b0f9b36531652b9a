// The pools' and Recv streams' part of /metrics: per-target gauges and
// counters in the Prometheus text format, from one gathering of target stats
// and the streams' own descriptions.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "pool/target_pool.h"
#include "sidecar/config.h"

namespace brokerside::v1 {
class SubscriptionStats;
}

namespace brokerside::sidecar {

void render_pool_metrics(const config& cfg, const std::map<std::string, pool::target_stats>& pools,
                         std::string& out);

// Recv streams per target, what they have outstanding, and each consumer
// group partition's lag (Kafka).
void render_recv_metrics(const config& cfg,
                         const std::vector<std::pair<std::string, v1::SubscriptionStats>>& streams,
                         std::string& out);

}  // namespace brokerside::sidecar
