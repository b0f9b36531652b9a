// The reactor of one Recv call. The first message must subscribe; what the
// subscription does is the `subscribe` function's business. Until an adapter
// can deliver, every subscription ends with the status that function gives.
#pragma once

#include <functional>

#include "brokerside/v1/brokerside.grpc.pb.h"
#include "sidecar/metrics.h"

namespace brokerside::sidecar {

class recv_reactor final : public grpc::ServerBidiReactor<v1::RecvRequest, v1::RecvResponse> {
 public:
  using subscribe_fn = std::function<grpc::Status(const v1::Subscribe&)>;

  // Starts reading at once. Deletes itself when gRPC is done with the call.
  recv_reactor(subscribe_fn subscribe, metrics& m);

  void OnReadDone(bool ok) override;
  void OnDone() override { delete this; }

 private:
  void finish(const grpc::Status& status);

  subscribe_fn subscribe_;   // sets the subscription up, or says why not
  metrics& metrics_;         // call counters
  v1::RecvRequest request_;  // the read in progress
};

}  // namespace brokerside::sidecar
