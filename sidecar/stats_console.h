// `brokerside stats`: a terminal view of a running sidecar over its Stats
// RPC, as PgBouncer's SHOW POOLS / SHOW STATS are for it — per target its
// state, connections, waiters, in-flight operations, operations and errors
// per second and call latency percentiles over the last interval; then the
// leases with their holders and ages. `--watch` redraws it every interval;
// `--json` prints the same figures as one JSON object per interval.
#pragma once

#include <string>
#include <vector>

namespace brokerside::v1 {
class StatsResponse;
}

namespace brokerside::sidecar {

// Runs the console with the arguments after "stats"; returns the exit code
// (0; 1 when the sidecar cannot be asked; 2 on bad usage).
int stats_console(const std::vector<std::string>& args);

// The table for `now`, with rates and percentiles over the interval since
// `before` (the reading `seconds` earlier; null: no rates yet). Pure, for
// tests.
std::string render_stats_table(const v1::StatsResponse& now, const v1::StatsResponse* before,
                               double seconds, const std::string& address);
std::string render_stats_json(const v1::StatsResponse& now, const v1::StatsResponse* before,
                              double seconds);

}  // namespace brokerside::sidecar
