// The open Recv streams of the Broker service, so that a drain can end them
// (a subscription has no end of its own, and would hold the shutdown for its
// whole grace period) and then wait until their subscriptions have stopped:
// for AMQP, the channel closed after every ack the client sent, and what the
// client had not acked requeued by the broker, before the pools close.
#pragma once

#include <grpcpp/support/status.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace brokerside::v1 {
class SubscriptionStats;
}

namespace brokerside::sidecar {

class recv_registry {
 public:
  // One open stream, as the registry sees it.
  class member {
   public:
    virtual ~member() = default;
    // Ends the stream with a status (a drain); called from any thread, at
    // most once, maybe after the stream has ended on its own.
    virtual void drain(grpc::Status status) = 0;
    // Describes the stream for Stats: fills `out` and names its target, or
    // answers false (it is ending). Called from any thread.
    virtual bool report(std::string& target, v1::SubscriptionStats& out) = 0;
  };

  recv_registry();

  // Registers a stream, which counts as open until the returned handle is
  // dropped: drop it once the stream's subscription has stopped. Held
  // weakly: a member gone is skipped. Once end_all() has run, the member is
  // drained at once (before this returns; the caller must not hold a
  // lock drain() takes).
  std::shared_ptr<void> add(std::weak_ptr<member> stream);

  // Every open stream that describes itself, with its target's name.
  std::vector<std::pair<std::string, v1::SubscriptionStats>> describe_all() const;

  // Ends every registered stream, and every stream added from now on, with
  // `status`.
  void end_all(const grpc::Status& status);

  // Blocks until every handle is dropped or `deadline` passes; whether all
  // were.
  bool wait_idle(std::chrono::system_clock::time_point deadline);

 private:
  struct shared;
  std::shared_ptr<shared> shared_;  // also held by every handle, which may outlive this
};

}  // namespace brokerside::sidecar
