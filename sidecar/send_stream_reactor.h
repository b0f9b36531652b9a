// The reactor of one SendStream call: reads operations (one per message, or
// batches) and runs them concurrently (up to max_in_flight per stream;
// reading pauses beyond it, so a fast client is slowed to the broker's pace
// instead of queueing without bound), answers each with its id and status as
// it completes — coalesced into one message with the others that completed
// meanwhile, or in the same read of the broker's replies, once the client has
// batched — and finishes once the client has
// half-closed and every answer is written. A failed operation never ends the
// stream.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "brokerside/v1/brokerside.grpc.pb.h"
#include "pool/time.h"
#include "sidecar/async_calls.h"
#include "sidecar/caller_table.h"
#include "sidecar/metrics.h"
#include "sidecar/send_call.h"

namespace brokerside::sidecar {

class send_stream_reactor final
    : public bidi_reactor<v1::SendStreamRequest, v1::SendStreamResponse> {
 public:
  static constexpr std::uint32_t max_in_flight = 1024;
  // A coalesced response holds at most this many outcomes, and stops taking
  // more once it passes max_coalesced_bytes (clients' default receive limit
  // is 4 MiB).
  static constexpr int max_coalesced = 1024;
  static constexpr std::size_t max_coalesced_bytes = 1 << 20;

  // Starts reading at once. Deletes itself when gRPC is done with the call.
  // `info` (the caller, the stream's trace context) is every operation's;
  // `slot` counts the stream against its caller's quota until the end.
  send_stream_reactor(const send_call& calls, metrics& m, pool::time_point deadline, call_info info,
                      stream_slot slot);
  ~send_stream_reactor() override;

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  struct inbound;
  struct operation;

  void completed(operation* op, const grpc::Status& status);
  // The end of the dispatch turn an outcome completed in: write what is
  // ready (protocol/dispatch_turn.h).
  void flush_deferred();
  // Writes what is ready: the next outcome, or all of them up to the limits
  // once the client batches. Needs mutex_, a non-empty ready_, no write out.
  void write_ready_locked();
  // Finishes once reading is over, nothing runs and nothing is left to write.
  // Needs mutex_.
  void maybe_finish_locked();
  // Spare objects (their messages' memory reused), or new ones. Need mutex_.
  inbound* take_inbound_locked();
  operation* take_operation_locked();
  void recycle_locked(operation* op);

  const send_call& calls_;           // runs each operation
  metrics& metrics_;                 // per-operation counters
  const pool::time_point deadline_;  // the stream's deadline bounds each operation
  const call_info info_;             // the caller and the stream's trace
  stream_slot slot_;                 // this stream, as its caller's quota counts it
  inbound* reading_ = nullptr;       // the read in progress
  std::mutex mutex_;                 // guards everything below
  std::vector<std::unique_ptr<inbound>> inbound_owned_;      // every message read into
  std::vector<inbound*> inbound_spare_;                      // ... whose operations are all done
  std::vector<std::unique_ptr<operation>> operation_owned_;  // every operation slot
  std::vector<operation*> operation_spare_;                  // ... not in use
  std::deque<operation*> ready_;                             // answered, not yet written
  v1::SendStreamResponse writing_msg_;                       // the response being written
  std::uint32_t in_flight_ = 0;                              // operations started, not yet answered
  bool batched_ = false;       // the client sent a batch: outcomes coalesced
  bool paused_ = false;        // reading waits for in_flight_ to drop
  bool writing_ = false;       // a StartWrite is outstanding
  bool deferred_ = false;      // a write waits for its dispatch turn to end
  bool reading_done_ = false;  // client half-closed, or the call broke
  bool finished_ = false;      // Finish() was called
  bool broken_ = false;        // a write failed or the call was cancelled
};

}  // namespace brokerside::sidecar
