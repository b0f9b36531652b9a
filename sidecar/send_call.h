// One Send as Send and SendStream both run it: find the target, check the
// operation with its adapter, run it through the pool (retried, or on a
// lease), and turn the outcome into the response or a status. gRPC
// reactors call it; it never blocks.
#pragma once

#include <grpcpp/support/status.h>

#include <functional>

#include "brokerside/v1/brokerside.pb.h"
#include "pool/caller_gone.h"
#include "pool/time.h"
#include "sidecar/access_log.h"
#include "sidecar/caller_auth.h"
#include "sidecar/target_set.h"
#include "sidecar/trace_context.h"

namespace brokerside::sidecar {

class memory_guard;

// What a Send carries beside its request: who calls and in which trace.
struct call_info {
  std::string who;                       // caller_auth::identify
  trace_context trace;                   // from the call's metadata (or made up: tracing.generate)
  std::shared_ptr<client_entry> client;  // its gRPC connection's counts (client_limits.h)
  // Set when the caller goes away (a SendStream cancelled): its operations
  // still waiting in a pool are dropped. None for a unary Send.
  std::shared_ptr<pool::caller_gone> gone;
};

class send_call {
 public:
  // `targets`, `auth` and `memory` (null: no guard) must outlive this.
  send_call(const target_set& targets, const caller_auth& auth,
            const memory_guard* memory = nullptr)
      : targets_(targets),
        auth_(auth),
        memory_(memory),
        access_(targets.configuration().log.access_sample) {}

  // Runs `request` for the caller and trace of `info` until `deadline`; a
  // publish or request carries the trace context in its message's headers.
  // Completion: done(status) exactly once, maybe before this returns, with
  // `response` filled on OK. Cancellation: by `info.gone`, while the
  // operation waits in a pool (then CANCELLED); else the deadline bounds it.
  // The caller keeps request and response alive until done; `info` is
  // read before run returns.
  void run(const v1::SendRequest& request, v1::SendResponse& response, pool::time_point deadline,
           const call_info& info, std::function<void(grpc::Status)> done) const;

  // The trace context of a call with this client metadata.
  trace_context trace_of(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) const {
    return trace_from_metadata(metadata, targets_.configuration().tracing.generate);
  }

  // The target named `name`, or the status its absence earns (also for
  // Recv, Acquire and Stats).
  grpc::Status find_target(const std::string& name, target_set::entry& out) const;
  // The same, without a copy: `out` points into the target set.
  grpc::Status find_target(const std::string& name, const target_set::entry*& out) const;

 private:
  const target_set& targets_;   // immutable after startup
  const caller_auth& auth_;     // who may send where
  const memory_guard* memory_;  // server.max_memory, or null
  access_log access_;           // a line per sampled operation
};

// The status of an operation on a target whose adapter this build lacks.
grpc::Status adapter_missing(const target_set::entry& target);

// `message`, with why the broker is unreachable when `ec` is about
// reachability (as Envoy's connect-failure reasons).
std::string with_connect_error(std::string message, std::error_code ec,
                               const pool::target_pool& pool);

// What a client reads for a lease error.
std::string lease_error(std::error_code ec, const std::string& lease);

}  // namespace brokerside::sidecar
