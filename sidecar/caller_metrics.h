// Per caller identity in /metrics (Prometheus text) and in Stats: the
// figures of sidecar/caller_table.h.
#pragma once

#include <string>
#include <vector>

#include "brokerside/v1/brokerside.pb.h"
#include "sidecar/caller_table.h"

namespace brokerside::sidecar {

// brokerside_caller_operations_total{caller}, brokerside_caller_in_flight,
// brokerside_caller_streams, brokerside_caller_denied_total{caller,rule},
// brokerside_caller_throttled_total{caller,quota}; nothing when no caller
// was seen.
void render_caller_metrics(const std::vector<caller_snapshot>& callers, std::string& out);

// The same as Stats' `callers`.
void fill_caller_stats(const std::vector<caller_snapshot>& callers, v1::StatsResponse& out);

}  // namespace brokerside::sidecar
