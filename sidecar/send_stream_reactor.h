// The reactor of one SendStream call: reads operations, answers each with its
// id and status as it completes, and finishes once the client has half-closed
// and every answer is written. A failed operation never ends the stream.
#pragma once

#include <deque>
#include <mutex>

#include "brokerside/v1/brokerside.grpc.pb.h"
#include "sidecar/metrics.h"

namespace brokerside::sidecar {

class broker_service;

class send_stream_reactor final
    : public grpc::ServerBidiReactor<v1::SendStreamRequest, v1::SendStreamResponse> {
 public:
  // Starts reading at once. Deletes itself when gRPC is done with the call.
  send_stream_reactor(const broker_service& service, metrics& m);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override { delete this; }

 private:
  void enqueue(v1::SendStreamResponse response);
  // Finishes once reading is over and nothing is left to write. Needs mutex_.
  void maybe_finish_locked();

  const broker_service& service_;              // runs each operation
  metrics& metrics_;                           // per-operation counters
  v1::SendStreamRequest request_;              // the read in progress
  std::mutex mutex_;                           // guards everything below
  std::deque<v1::SendStreamResponse> outbox_;  // front() is being written
  bool writing_ = false;                       // a StartWrite is outstanding
  bool reading_done_ = false;                  // client half-closed, or the call broke
  bool finished_ = false;                      // Finish() was called
  bool broken_ = false;                        // a write failed or the call was cancelled
};

}  // namespace brokerside::sidecar
