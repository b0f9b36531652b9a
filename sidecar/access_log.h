// The access log: one JSON line per Send / SendStream operation on stdout,
// for a configured share of them (log.access_sample), as Envoy's access log
// and PgBouncer's log_connections give operators a line per request.
// Sampled by trace id where the call has one, so every sidecar a trace
// crosses logs it or none does; at random otherwise.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>

#include "sidecar/trace_context.h"

namespace brokerside::sidecar {

class access_log {
 public:
  explicit access_log(double sample) : sample_(sample) {}

  // Whether the operation in `trace` is one to log.
  bool sampled(const trace_context& trace) const;

  struct entry {
    std::string_view trace_id, caller, target, operation, status, message;
    std::chrono::steady_clock::duration elapsed;
  };
  // Writes `e` as one line (thread-safe).
  void write(const entry& e) const;

  // The JSON line for `e` at `now` (for tests).
  static std::string line(const entry& e, std::chrono::system_clock::time_point now);

 private:
  double sample_;             // 0: never, 1: always
  mutable std::mutex mutex_;  // one line at a time on stdout
};

}  // namespace brokerside::sidecar
