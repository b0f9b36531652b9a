#include "sidecar/send_stream_reactor.h"

#include "sidecar/send_call.h"

namespace brokerside::sidecar {

// One operation of the stream, alive until its outcome is queued.
struct send_stream_reactor::operation {
  v1::SendStreamRequest request;
  v1::SendStreamResponse response;
};

send_stream_reactor::send_stream_reactor(const send_call& calls, metrics& m,
                                         pool::time_point deadline)
    : calls_(calls), metrics_(m), deadline_(deadline), reading_(std::make_shared<operation>()) {
  StartRead(&reading_->request);
}

void send_stream_reactor::OnReadDone(bool ok) {
  if (!ok) {
    std::lock_guard lock(mutex_);
    reading_done_ = true;
    maybe_finish_locked();
    return;
  }
  auto op = std::exchange(reading_, std::make_shared<operation>());
  bool read_more = false;
  {
    std::lock_guard lock(mutex_);
    ++in_flight_;
    read_more = in_flight_ < max_in_flight;
    paused_ = !read_more;
  }
  op->response.set_id(op->request.id());
  calls_.run(op->request.send(), *op->response.mutable_result(), deadline_,
             [this, op](grpc::Status status) { completed(op, status); });
  if (read_more) StartRead(&reading_->request);
}

void send_stream_reactor::completed(const std::shared_ptr<operation>& op,
                                    const grpc::Status& status) {
  metrics_.count_stream_operation(status.error_code());
  if (!status.ok()) {
    op->response.clear_result();
    op->response.mutable_status()->set_code(static_cast<int>(status.error_code()));
    op->response.mutable_status()->set_message(status.error_message());
  }
  std::lock_guard lock(mutex_);
  --in_flight_;
  if (!broken_) {
    outbox_.push_back(std::move(op->response));
    if (!writing_) {
      writing_ = true;
      StartWrite(&outbox_.front());
    }
  }
  if (paused_ && !reading_done_) {
    paused_ = false;
    StartRead(&reading_->request);
  }
  maybe_finish_locked();
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
  if (finished_ || writing_ || !reading_done_ || in_flight_ > 0) return;
  finished_ = true;
  const auto status = broken_ ? grpc::Status::CANCELLED : grpc::Status::OK;
  metrics_.count_call(rpc_method::send_stream, status.error_code());
  Finish(status);
}

}  // namespace brokerside::sidecar
