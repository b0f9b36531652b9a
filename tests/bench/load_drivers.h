// The load drivers of bench_load: unary calls with N in flight per client,
// bidirectional streams with a window of N outstanding messages, and Recv
// subscriptions held open. Each returns its report as JSON.
#pragma once

#include <nlohmann/json.hpp>

#include "tests/bench/load_options.h"

namespace brokerside::bench {

nlohmann::json run_unary(const load_options& o);
nlohmann::json run_stream(const load_options& o);
nlohmann::json run_recv_hold(const load_options& o);
// recv_consume.cc
nlohmann::json run_recv_consume(const load_options& o);

// lease_hold.cc
nlohmann::json run_lease_hold(const load_options& o);

// startup_probe.cc
nlohmann::json run_startup(const load_options& o);
// A "kB" field of /proc/PID/status (VmRSS, VmHWM), or -1.
long proc_status_kb(int pid, const char* field);

}  // namespace brokerside::bench
