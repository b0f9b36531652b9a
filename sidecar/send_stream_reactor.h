// The reactor of one SendStream call: reads operations and runs them
// concurrently (up to max_in_flight per stream; reading pauses beyond it, so
// a fast client is slowed to the broker's pace instead of queueing without
// bound), answers each with its id and status as it completes, and finishes
// once the client has half-closed and every answer is written. A failed
// operation never ends the stream.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>

#include "brokerside/v1/brokerside.grpc.pb.h"
#include "pool/time.h"
#include "sidecar/metrics.h"

namespace brokerside::sidecar {

class send_call;

class send_stream_reactor final
    : public grpc::ServerBidiReactor<v1::SendStreamRequest, v1::SendStreamResponse> {
 public:
  static constexpr std::uint32_t max_in_flight = 1024;

  // Starts reading at once. Deletes itself when gRPC is done with the call.
  send_stream_reactor(const send_call& calls, metrics& m, pool::time_point deadline);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override { delete this; }

 private:
  struct operation;

  void completed(const std::shared_ptr<operation>& op, const grpc::Status& status);
  // Finishes once reading is over, nothing runs and nothing is left to write.
  // Needs mutex_.
  void maybe_finish_locked();

  const send_call& calls_;                     // runs each operation
  metrics& metrics_;                           // per-operation counters
  const pool::time_point deadline_;            // the stream's deadline bounds each operation
  std::shared_ptr<operation> reading_;         // the read in progress
  std::mutex mutex_;                           // guards everything below
  std::deque<v1::SendStreamResponse> outbox_;  // front() is being written
  std::uint32_t in_flight_ = 0;                // operations started, not yet answered
  bool paused_ = false;                        // reading waits for in_flight_ to drop
  bool writing_ = false;                       // a StartWrite is outstanding
  bool reading_done_ = false;                  // client half-closed, or the call broke
  bool finished_ = false;                      // Finish() was called
  bool broken_ = false;                        // a write failed or the call was cancelled
};

}  // namespace brokerside::sidecar
