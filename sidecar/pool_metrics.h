// The pools' part of /metrics: per-target gauges and counters in the
// Prometheus text format, from one gathering of target stats.
#pragma once

#include <map>
#include <string>

#include "pool/target_pool.h"
#include "sidecar/config.h"

namespace brokerside::sidecar {

void render_pool_metrics(const config& cfg, const std::map<std::string, pool::target_stats>& pools,
                         std::string& out);

}  // namespace brokerside::sidecar
