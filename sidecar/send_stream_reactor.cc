#include "sidecar/send_stream_reactor.h"

#include "sidecar/broker_service.h"

namespace brokerside::sidecar {

send_stream_reactor::send_stream_reactor(const broker_service& service, metrics& m)
    : service_(service), metrics_(m) {
  StartRead(&request_);
}

void send_stream_reactor::OnReadDone(bool ok) {
  if (!ok) {
    std::lock_guard lock(mutex_);
    reading_done_ = true;
    maybe_finish_locked();
    return;
  }
  v1::SendStreamResponse response;
  response.set_id(request_.id());
  const auto status = service_.send(request_.send(), *response.mutable_result());
  metrics_.count_stream_operation(status.error_code());
  if (!status.ok()) {
    response.clear_result();
    response.mutable_status()->set_code(static_cast<int>(status.error_code()));
    response.mutable_status()->set_message(status.error_message());
  }
  enqueue(std::move(response));
  StartRead(&request_);
}

void send_stream_reactor::enqueue(v1::SendStreamResponse response) {
  std::lock_guard lock(mutex_);
  if (broken_) return;
  outbox_.push_back(std::move(response));
  if (!writing_) {
    writing_ = true;
    StartWrite(&outbox_.front());
  }
}

void send_stream_reactor::OnWriteDone(bool ok) {
  std::lock_guard lock(mutex_);
  outbox_.pop_front();
  if (!ok) {
    // The client is gone: drop the rest; reads will fail and end the call.
    broken_ = true;
    outbox_.clear();
  }
  if (!outbox_.empty()) {
    StartWrite(&outbox_.front());
    return;
  }
  writing_ = false;
  maybe_finish_locked();
}

void send_stream_reactor::OnCancel() {
  std::lock_guard lock(mutex_);
  broken_ = true;
  maybe_finish_locked();
}

void send_stream_reactor::maybe_finish_locked() {
  if (finished_ || writing_ || !reading_done_) return;
  finished_ = true;
  const auto status = broken_ ? grpc::Status::CANCELLED : grpc::Status::OK;
  metrics_.count_call(rpc_method::send_stream, status.error_code());
  Finish(status);
}

}  // namespace brokerside::sidecar
