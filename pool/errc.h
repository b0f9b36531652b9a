// The pool layer's errors. sidecar/status.cc is the one place that turns them
// into gRPC status codes.
#pragma once

#include <system_error>

namespace brokerside::pool {

enum class errc {
  unknown_target = 1,       // no target of that name
  unknown_lease,            // no lease of that id
  lease_expired,            // the lease's TTL passed; its connection was reclaimed
  adapter_not_implemented,  // the target's adapter is missing from this build
  invalid_operation,        // the operation is not valid for the target's protocol
  needs_lease,              // the operation would stall a shared connection
  pool_exhausted,           // max_pending waiters already queued
  message_too_large,        // beyond the configured maximum size
  deadline_exceeded,        // the caller's deadline passed
  unavailable,              // broker unreachable: the operation was not performed
  circuit_open,             // failing fast while the target's breaker is open
  retry_budget_exhausted,   // a retry was needed but the budget is spent
  outcome_unknown,          // connection lost after a non-idempotent write
  shutting_down,            // the sidecar is draining
  broker_refused,           // the broker refused the operation (precondition)
  access_refused,           // the broker refused access
  not_found_at_broker,      // the broker has no such exchange, queue, route, ...
  remote_exception,         // the peer ran the request and answered with an exception (framed)
  caller_gone,              // the caller went away; not run, or not retried (pool/caller_gone.h)
};

const std::error_category& pool_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), pool_category()};
}

}  // namespace brokerside::pool

template <>
struct std::is_error_code_enum<brokerside::pool::errc> : std::true_type {};
