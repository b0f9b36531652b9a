// What the network-fault tests assert and print about a load and an
// observer (fault_harness.h): outcomes and durations against deadlines, one
// outage from fault to recovery, and the figures.
#pragma once

#include <iostream>
#include <map>
#include <sstream>

#include "tests/integration/faults/fault_harness.h"

namespace brokerside::faults {

inline bool is_circuit_open(const call& c) {
  return c.code == grpc::StatusCode::UNAVAILABLE &&
         c.message.find("circuit breaker open") != std::string::npos;
}

inline std::string code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    default:
      return "code " + std::to_string(static_cast<int>(code));
  }
}

// "812 calls: OK 700, UNAVAILABLE 100 (circuit open 90), ...; slowest
// 412 ms against a 400 ms deadline".
inline std::string describe(const std::vector<call>& calls) {
  std::map<std::string, int> by_code;
  int circuit_open = 0;
  const call* slowest = nullptr;
  for (const auto& c : calls) {
    ++by_code[code_name(c.code)];
    circuit_open += is_circuit_open(c);
    if (!slowest || c.took - c.deadline > slowest->took - slowest->deadline) slowest = &c;
  }
  std::ostringstream out;
  out << calls.size() << " calls:";
  for (const auto& [code, n] : by_code) {
    out << " " << code << " " << n;
    if (code == "UNAVAILABLE") out << " (circuit open " << circuit_open << ")";
    out << ",";
  }
  if (slowest) {
    out << " slowest " << millis(slowest->took) << " ms against a " << slowest->deadline.count()
        << " ms deadline (" << code_name(slowest->code) << ")";
  }
  return out.str();
}

// No call outlived its deadline by more than `slack`.
inline void expect_bounded(const std::vector<call>& calls, ms slack = 50ms) {
  for (const auto& c : calls) {
    EXPECT_LE(c.took, c.deadline + slack)
        << "a call took " << millis(c.took) << " ms against a " << c.deadline.count()
        << " ms deadline: " << code_name(c.code) << " " << c.message;
  }
}

// Only the codes a broken network may cause.
inline void expect_fault_codes(const std::vector<call>& calls) {
  for (const auto& c : calls) {
    EXPECT_TRUE(c.code == grpc::StatusCode::OK || c.code == grpc::StatusCode::DEADLINE_EXCEEDED ||
                c.code == grpc::StatusCode::UNAVAILABLE || c.code == grpc::StatusCode::ABORTED)
        << code_name(c.code) << ": " << c.message;
  }
}

inline void figure(const std::string& test, const std::string& text) {
  std::cout << "[ figures  ] " << test << ": " << text << std::endl;
}

// One outage: the fault goes in at fault_at, stays until the target is
// NOT_SERVING with its breaker open and then `hold` longer (so half-open
// probes fail too), and is cleared at clear_at; then the wait for the
// breaker to close and the target to serve again. Waits are bounded by
// `limit`; a time left empty is what never happened. `connections` counts
// the connections the sidecar has made (the proxy's accepts): those made
// while the breaker was open were its half-open probes, which may fail too
// fast for the observer to see the state.
struct outage {
  steady::time_point fault_at, clear_at;
  std::optional<steady::time_point> unhealthy, open, closed, healthy;
  std::uint64_t probes = 0;
};

inline outage run_outage(const observer& seen, const std::function<void()>& inject,
                         const std::function<void()>& clear,
                         const std::function<std::uint64_t()>& connections, ms hold = 1500ms,
                         ms limit = 20s) {
  outage o;
  o.fault_at = steady::now();
  inject();
  o.unhealthy = seen.wait_for([](const sample& s) { return !s.serving; }, o.fault_at, limit);
  o.open = seen.wait_for([](const sample& s) { return s.breaker == v1::BREAKER_STATE_OPEN; },
                         o.fault_at, limit);
  const auto before = connections();
  std::this_thread::sleep_for(hold);
  o.probes = connections() - before;
  o.clear_at = steady::now();
  clear();
  o.closed = seen.wait_for([](const sample& s) { return s.breaker == v1::BREAKER_STATE_CLOSED; },
                           o.clear_at, limit);
  o.healthy = seen.wait_for([](const sample& s) { return s.serving; }, o.clear_at, limit);
  return o;
}

// The breaker opened, half-opened and closed, health went NOT_SERVING and
// back; prints when.
inline void expect_recovered(const outage& o, const observer& seen, const std::string& test) {
  const auto path = seen.breaker_path(o.fault_at);
  EXPECT_TRUE(o.unhealthy) << "health never turned NOT_SERVING";
  EXPECT_TRUE(o.open) << "the breaker never opened: " << path;
  EXPECT_TRUE(path.find("open > half_open") != std::string::npos || o.probes > 0)
      << "no half-open probe while the breaker was open: " << path;
  EXPECT_TRUE(o.closed) << "the breaker did not close after the fault cleared: " << path;
  EXPECT_TRUE(o.healthy) << "health did not return to SERVING";
  const auto after = [&](const std::optional<steady::time_point>& t, steady::time_point from) {
    return t ? std::to_string(millis(*t - from)) + " ms" : std::string("never");
  };
  figure(test, "health NOT_SERVING " + after(o.unhealthy, o.fault_at) + " and breaker open " +
                   after(o.open, o.fault_at) + " after the fault; breaker closed " +
                   after(o.closed, o.clear_at) + " and SERVING " + after(o.healthy, o.clear_at) +
                   " after it cleared (held " + std::to_string(millis(o.clear_at - o.fault_at)) +
                   " ms); breaker: " + path + "; " + std::to_string(o.probes) +
                   " half-open probe(s) while open");
}

// Some calls failed fast on the open breaker, naming it.
inline void expect_fail_fast(const std::vector<call>& calls) {
  int fast = 0;
  for (const auto& c : calls) fast += is_circuit_open(c) && c.took < c.deadline / 2;
  EXPECT_GT(fast, 0) << "no call failed fast with UNAVAILABLE naming the breaker";
}

// After the outage: once 20 calls that started `settle` after the target
// served again have ended (or 15 s passed), the load stops.
inline void stop_after_recovery(load& l, const outage& o, ms settle = 250ms) {
  l.wait_for_calls(o.healthy.value_or(o.clear_at) + settle, 20, 15s);
  l.stop();
}

// Every call that started `settle` after the target served again succeeded
// (and there were some).
inline void expect_served_after(const load& l, const outage& o, ms settle = 250ms) {
  if (!o.healthy) return;
  const auto calls = l.calls(*o.healthy + settle);
  EXPECT_GE(calls.size(), 20u);
  for (const auto& c : calls) {
    EXPECT_EQ(c.code, grpc::StatusCode::OK)
        << millis(c.start - *o.healthy) << " ms after SERVING: " << c.message;
  }
}

}  // namespace brokerside::faults
