#include "sidecar/recv_reactor.h"

#include "pool/errc.h"
#include "sidecar/status.h"

namespace brokerside::sidecar {

recv_reactor::recv_reactor(subscribe_fn subscribe, metrics& m)
    : subscribe_(std::move(subscribe)), metrics_(m) {
  StartRead(&request_);
}

void recv_reactor::OnReadDone(bool ok) {
  // Only one read is ever outstanding and each path below finishes the call,
  // so Finish() runs exactly once.
  if (!ok) {
    finish(grpc::Status::OK);
    return;
  }
  if (request_.kind_case() != v1::RecvRequest::kSubscribe) {
    finish(to_status(pool::errc::invalid_operation,
                     "the first message on a Recv stream must be subscribe"));
    return;
  }
  finish(subscribe_(request_.subscribe()));
}

void recv_reactor::finish(const grpc::Status& status) {
  metrics_.count_call(rpc_method::recv, status.error_code());
  Finish(status);
}

}  // namespace brokerside::sidecar
