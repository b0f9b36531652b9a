// The reactor of one Recv call. The first message must subscribe; the
// subscription then runs on a dedicated connection from the target's pool:
// deliveries stream to the client through a buffer bounded by the credit
// (where the broker has no flow control, what does not fit is dropped,
// counted and announced with a Dropped notice; where it has, as AMQP's
// prefetch, nothing is dropped and the client's acks and nacks settle
// deliveries at the broker), and a lost connection is replaced and the
// subscription restored, with backoff, until the client ends the stream.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "brokerside/v1/brokerside.grpc.pb.h"
#include "sidecar/async_calls.h"
#include "sidecar/caller_table.h"
#include "sidecar/metrics.h"
#include "sidecar/recv_registry.h"
#include "sidecar/target_set.h"

namespace brokerside::sidecar {

class recv_reactor final : public bidi_reactor<v1::RecvRequest, v1::RecvResponse> {
 public:
  // Checks a subscribe message; on OK fills the target to run it on.
  using validate_fn = std::function<grpc::Status(const v1::Subscribe&, target_set::entry&)>;

  static constexpr std::uint32_t default_credit = 1024;

  // Starts reading at once. Deletes itself when gRPC is done with the call.
  // Once subscribed, the stream is in `streams` (which must outlive the
  // call) until its subscription has stopped, so a drain can end it.
  // `slot` counts the stream against its caller's quota until the end.
  recv_reactor(validate_fn validate, metrics& m, recv_registry& streams, std::string peer,
               stream_slot slot);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  struct state;

  // The first message, in request_: checked, and the subscription started.
  void subscribe();
  void finish(const grpc::Status& status);

  validate_fn validate_;          // the first message's check
  metrics& metrics_;              // call counters
  recv_registry& streams_;        // where a drain finds this stream
  v1::RecvRequest request_;       // the read in progress
  std::shared_ptr<state> state_;  // shared with pool callbacks that may outlive this
  stream_slot slot_;              // this stream, as its caller's quota counts it
};

}  // namespace brokerside::sidecar
