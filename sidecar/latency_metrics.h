// The latency and traffic part of /metrics: per-target histograms of calls
// (by operation kind), waits for a pooled connection, broker round trips and
// Recv settlements, and the bytes that went to and came from the broker.
#pragma once

#include <string>

#include "sidecar/target_set.h"

namespace brokerside::sidecar {

void render_latency_metrics(const target_set& targets, std::string& out);

}  // namespace brokerside::sidecar
