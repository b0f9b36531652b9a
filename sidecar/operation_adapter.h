// The gRPC side of one protocol adapter: checks a Send for its protocol and
// runs one attempt of it on a pooled connection, translating between the v1
// messages and the adapter's own types. One per adapter; stateless.
#pragma once

#include <grpcpp/support/status.h>

#include <string>

#include "brokerside/v1/brokerside.pb.h"
#include "pool/target_pool.h"

namespace brokerside::sidecar {

class operation_adapter {
 public:
  virtual ~operation_adapter() = default;

  // The status a request earns before any connection is used: OK, or
  // INVALID_ARGUMENT (not an operation of this protocol), FAILED_PRECONDITION
  // (needs a lease it does not have), ...
  virtual grpc::Status check(const v1::SendRequest& request, bool leased) const = 0;

  // Whether re-running the request after a connection loss is harmless even
  // if the client did not say so (e.g. read-only commands).
  virtual bool idempotent(const v1::SendRequest& request) const = 0;

  // One attempt of `request` on `conn`: fills `response`, or `error_text`
  // with the broker's words when it fails; calls `done` exactly once. The
  // caller keeps request, response and error_text alive until then.
  virtual void attempt(const v1::SendRequest& request, pool::connection& conn,
                       v1::SendResponse& response, std::string& error_text,
                       pool::target_pool::attempt_done done) const = 0;

  // Recv: OK if this adapter can subscribe as asked, else the status.
  virtual grpc::Status check_subscribe(const v1::Subscribe&) const {
    return {grpc::StatusCode::UNIMPLEMENTED, "Recv is not implemented for this adapter yet"};
  }

  // Starts `subscribe` on a dedicated connection: each message becomes a
  // Delivery passed to `deliver` (delivery_id left for the caller to set);
  // `ready` is called once every source is confirmed. Runs, and calls back,
  // on the connection's strand, for as long as the connection lives.
  virtual void start_subscription(const v1::Subscribe& /*subscribe*/, pool::connection& /*conn*/,
                                  std::function<void(v1::Delivery)> /*deliver*/,
                                  std::function<void()> /*ready*/) const {}
};

// What a build offers for one target: how to connect, how to run operations.
struct adapter_binding {
  std::shared_ptr<pool::connection_factory> connections;
  std::shared_ptr<const operation_adapter> operations;
  std::string missing;  // without connections: why (e.g. "TLS is not implemented yet")
};

}  // namespace brokerside::sidecar
