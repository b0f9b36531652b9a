// kombu's `ensure` as a sans-io state machine: after each attempt it decides
// whether to give up or retry and after how long. Connection errors are
// retried (with backoff, within the retry budget and the caller's deadline)
// when the operation was never written or is idempotent; a non-idempotent
// operation that was written ends ABORTED (outcome unknown); operation
// errors (the broker refused it, a channel error) are never retried.
#pragma once

#include <cstdint>
#include <string>
#include <system_error>

#include "pool/backoff.h"
#include "pool/retry_budget.h"
#include "pool/time.h"

namespace brokerside::pool {

// How an attempt failed, as the adapter (or the pool) classifies it.
enum class failure_kind {
  connection,  // the connection broke or could not be made: retry may help
  operation,   // this operation was refused or is invalid: retry cannot help
  try_again,   // the broker answered that it did not run it and will soon (Redis
               // LOADING, TRYAGAIN): retried like a connection error, whatever was
               // written, and the connection kept
};

// How one attempt ended, by value: the adapter's words travel with it.
struct attempt_result {
  std::error_code error;  // none: success
  failure_kind kind = failure_kind::connection;
  bool written = false;  // the operation reached the wire before the failure
  std::string detail;    // the broker's (or adapter's) words for a failure; never a secret
  // Another node of the broker serves this operation ("host:port": Redis
  // Cluster's MOVED, or ASK when `redirect_once`): the target's redirector,
  // if it has one, runs it there; else it ends with `error`.
  std::string redirect;
  bool redirect_once = false;
};

class ensure_op {
 public:
  enum class next { attempt, wait, done };

  struct action {
    next what = next::done;
    millis delay{0};         // for wait: how long before the next attempt
    std::error_code result;  // for done: the outcome (none: success)
  };

  ensure_op(const retry_settings& settings, bool idempotent, time_point deadline) noexcept;

  // The first action: attempt, or done if the deadline has already passed.
  action start(time_point now) noexcept;

  // After an attempt: done with its outcome, or wait and attempt again.
  // `u` is a uniform random draw in [0, 1) for the backoff's jitter.
  action resume(time_point now, const attempt_result& result, retry_budget& budget,
                double u) noexcept;

  std::uint32_t retries() const noexcept { return retries_; }

 private:
  retry_settings settings_;  // max_retries and the backoff
  bool idempotent_;          // may be re-applied after being written
  time_point deadline_;      // the caller's deadline
  std::uint32_t retries_ = 0;
};

}  // namespace brokerside::pool
