#include "sidecar/send_stream_reactor.h"

#include "protocol/dispatch_turn.h"
#include "sidecar/send_call.h"

namespace brokerside::sidecar {

// One message read from the client, alive until every operation in it is
// answered (they run on its SendRequests), then reused by a later read.
// The message lives on an arena of its own: parsing it takes a block or two
// instead of an allocation per field (a SendRequest, its command, each
// argument: nine per Redis SET), and the whole of it goes at once when the
// last of its operations is answered.
struct send_stream_reactor::inbound {
  inbound() : arena(arena_options()) { renew(); }
  // Frees what the last message took and makes an empty one.
  void renew() {
    if (request != nullptr) arena.Reset();
    request = google::protobuf::Arena::CreateMessage<v1::SendStreamRequest>(&arena);
  }
  static google::protobuf::ArenaOptions arena_options() {
    google::protobuf::ArenaOptions o;
    o.start_block_size = 1024;  // a SET of 64 bytes takes ~250
    return o;
  }
  google::protobuf::Arena arena;
  v1::SendStreamRequest* request = nullptr;  // on `arena`
  std::uint32_t pending = 0;                 // its operations not yet answered
};

// One operation's outcome slot, reused once the outcome is written.
struct send_stream_reactor::operation {
  inbound* from = nullptr;  // the message that carried it
  v1::StreamOutcome outcome;
};

send_stream_reactor::send_stream_reactor(const send_call& calls, metrics& m,
                                         pool::time_point deadline, call_info info,
                                         stream_slot slot)
    : calls_(calls),
      metrics_(m),
      deadline_(deadline),
      info_(std::move(info)),
      slot_(std::move(slot)) {
  {
    std::lock_guard lock(mutex_);
    reading_ = take_inbound_locked();
  }
  StartRead(reading_->request);
}

send_stream_reactor::~send_stream_reactor() = default;

send_stream_reactor::inbound* send_stream_reactor::take_inbound_locked() {
  if (inbound_spare_.empty()) return inbound_owned_.emplace_back(std::make_unique<inbound>()).get();
  auto* in = inbound_spare_.back();
  inbound_spare_.pop_back();
  return in;
}

send_stream_reactor::operation* send_stream_reactor::take_operation_locked() {
  if (operation_spare_.empty()) {
    return operation_owned_.emplace_back(std::make_unique<operation>()).get();
  }
  auto* op = operation_spare_.back();
  operation_spare_.pop_back();
  return op;
}

void send_stream_reactor::recycle_locked(operation* op) {
  op->outcome.Clear();
  operation_spare_.push_back(op);
}

void send_stream_reactor::OnReadDone(bool ok) {
  if (!ok) {
    std::lock_guard lock(mutex_);
    reading_done_ = true;
    maybe_finish_locked();
    return;
  }
  auto* in = reading_;
  const auto& request = *in->request;
  // A message with neither send nor operations is one operation without
  // one: it gets its INVALID_ARGUMENT with its id.
  const bool single = request.has_send() || request.operations().empty();
  const auto count = static_cast<std::uint32_t>(request.operations_size()) + (single ? 1 : 0);
  std::vector<operation*> ops(count);
  bool read_more = false;
  {
    std::lock_guard lock(mutex_);
    reading_ = take_inbound_locked();
    if (!request.operations().empty()) batched_ = true;
    in->pending = count;
    in_flight_ += count;
    read_more = in_flight_ < max_in_flight;
    paused_ = !read_more;
    for (auto& op : ops) {
      op = take_operation_locked();
      op->from = in;
    }
  }
  // Every operation is counted before the first starts: any may complete
  // (and touch `in`) at once. Those that end here (refused) are answered
  // together.
  protocol::dispatch_turn turn;
  for (std::uint32_t i = 0; i < count; ++i) {
    auto* op = ops[i];
    const bool first_single = single && i == 0;
    const auto& send =
        first_single ? request.send() : request.operations(i - (single ? 1 : 0)).send();
    op->outcome.set_id(first_single ? request.id() : request.operations(i - (single ? 1 : 0)).id());
    calls_.run(send, *op->outcome.mutable_result(), deadline_, info_,
               [this, op](grpc::Status status) { completed(op, status); });
  }
  if (read_more) StartRead(reading_->request);
}

void send_stream_reactor::completed(operation* op, const grpc::Status& status) {
  metrics_.count_stream_operation(status.error_code());
  if (!status.ok()) {
    op->outcome.clear_result();
    op->outcome.mutable_status()->set_code(static_cast<int>(status.error_code()));
    op->outcome.mutable_status()->set_message(status.error_message());
  }
  std::lock_guard lock(mutex_);
  --in_flight_;
  if (--op->from->pending == 0) {
    op->from->renew();
    inbound_spare_.push_back(op->from);
  }
  if (broken_) {
    recycle_locked(op);
  } else {
    ready_.push_back(op);
    // A client that batches gets what completes in the same turn (the
    // replies of one read from the broker) in one message: the write waits
    // for the turn to end. Without a turn (a timer, another thread), at once.
    if (!writing_ && !deferred_) {
      if (batched_ && protocol::dispatch_turn::defer([this] { flush_deferred(); })) {
        deferred_ = true;
      } else {
        write_ready_locked();
      }
    }
  }
  if (paused_ && !reading_done_ && in_flight_ < max_in_flight) {
    paused_ = false;
    StartRead(reading_->request);
  }
  maybe_finish_locked();
}

void send_stream_reactor::flush_deferred() {
  std::lock_guard lock(mutex_);
  deferred_ = false;
  if (broken_) {
    for (auto* op : ready_) recycle_locked(op);
    ready_.clear();
  } else if (!writing_ && !ready_.empty()) {
    write_ready_locked();
  }
  maybe_finish_locked();
}

void send_stream_reactor::write_ready_locked() {
  writing_msg_.Clear();
  if (!batched_) {
    // As before batches: one outcome per message, in the single fields.
    auto* op = ready_.front();
    ready_.pop_front();
    writing_msg_.set_id(op->outcome.id());
    if (op->outcome.has_result()) writing_msg_.mutable_result()->Swap(op->outcome.mutable_result());
    if (op->outcome.has_status()) writing_msg_.mutable_status()->Swap(op->outcome.mutable_status());
    recycle_locked(op);
  } else {
    std::size_t bytes = 0;
    while (!ready_.empty() && writing_msg_.outcomes_size() < max_coalesced &&
           bytes < max_coalesced_bytes) {
      auto* op = ready_.front();
      ready_.pop_front();
      bytes += op->outcome.ByteSizeLong();
      writing_msg_.add_outcomes()->Swap(&op->outcome);
      recycle_locked(op);
    }
  }
  writing_ = true;
  // More ready: this one may wait in gRPC's buffer for the next, which
  // follows at once (OnWriteDone), and they go out in one frame and one
  // syscall instead of one each. The last of a run flushes.
  StartWrite(&writing_msg_,
             ready_.empty() ? grpc::WriteOptions() : grpc::WriteOptions().set_buffer_hint());
}

void send_stream_reactor::OnWriteDone(bool ok) {
  if (!ok && info_.gone) info_.gone->set();
  std::lock_guard lock(mutex_);
  writing_ = false;
  if (!ok) {
    // The client is gone: drop the rest; reads will fail and end the call.
    broken_ = true;
    for (auto* op : ready_) recycle_locked(op);
    ready_.clear();
  }
  if (!ready_.empty()) {
    write_ready_locked();
    return;
  }
  maybe_finish_locked();
}

void send_stream_reactor::OnCancel() {
  // Operations still waiting for a pool connection end now (CANCELLED),
  // unrun; those at a broker run on, their answers dropped.
  if (info_.gone) info_.gone->set();
  std::lock_guard lock(mutex_);
  broken_ = true;
  maybe_finish_locked();
}

void send_stream_reactor::OnDone() {
  // completed() and flush_deferred() run on a pool's thread and may call
  // Finish() with mutex_ held; gRPC can take that completion on another
  // thread and end the call before they unlock. Taking the lock once waits
  // for them: deleting first let their unlock write into freed memory, which
  // the allocator had handed to another object of its size class by then (a
  // Recv stream's state, found corrupt when it ended: SIGSEGV under a
  // thousand vanishing clients).
  { std::lock_guard lock(mutex_); }
  delete this;
}

void send_stream_reactor::maybe_finish_locked() {
  // A deferred write holds the reactor alive until its turn ends.
  if (finished_ || writing_ || deferred_ || !reading_done_ || in_flight_ > 0) return;
  finished_ = true;
  const auto status = broken_ ? grpc::Status::CANCELLED : grpc::Status::OK;
  metrics_.count_call(rpc_method::send_stream, status.error_code());
  Finish(status);
}

}  // namespace brokerside::sidecar
