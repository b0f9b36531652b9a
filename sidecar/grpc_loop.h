// gRPC's completion queue served by the Asio threads themselves, so a call's
// handler, its broker I/O and its reply run on one thread with no hand-off
// (README, "Design notes: the thread model"; measured in
// tests/bench/results/2026-12-03-thread-model.md). gRPC 1.51's epoll1 poller
// keeps one epoll descriptor per process; it is watched as an Asio
// descriptor, and when it is readable the queue is drained with
// AsyncNext(gpr_inf_past). This only works while no other thread polls
// gRPC: every service of the server is on the async API.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>

namespace boost::asio {
class io_context;
}

namespace grpc {
class ServerCompletionQueue;
}

namespace brokerside::sidecar {

// What every tag on the loop's completion queue points at.
class loop_tag {
 public:
  // The operation the tag was given to completed (`ok` as gRPC says).
  virtual void on_event(bool ok) = 0;

 protected:
  ~loop_tag() = default;
};

class grpc_loop {
 public:
  // `io` must outlive the loop; its threads drain the queue. `hold_writes`:
  // run() holds gRPC's writes (server.hold_writes).
  explicit grpc_loop(boost::asio::io_context& io, bool hold_writes = true);
  ~grpc_loop();

  // After the server is built: watches gRPC's descriptor and drains `queue`
  // (which must outlive the loop) from the io_context's threads. Throws
  // std::runtime_error if gRPC's descriptor cannot be found.
  void start(grpc::ServerCompletionQueue& queue);

  // Runs the io_context on the calling thread (as io_context::run() does),
  // holding a client's responses finished together until the turn's end
  // (sidecar/held_writes.h) unless told not to. Every thread that runs `io`
  // should call this.
  void run();

  // Drains soon, from an io_context thread. Thread-safe. Call after starting
  // a gRPC operation outside a drain: a completion queued by a thread that is
  // not polling gRPC wakes no one.
  void wake();

  // Every call object (sidecar/async_calls.h) counts itself, from asking
  // gRPC for a call to deleting itself. Thread-safe.
  void call_made();
  void call_gone();

  // After the server's Shutdown has returned: drains on the calling thread
  // until every call is gone (a call gRPC cancelled ends once its reactor
  // finishes it), then shuts the queue down and drains it to its end.
  void stop();

 private:
  struct state;
  std::shared_ptr<state> state_;  // shared with the handlers in flight
};

}  // namespace brokerside::sidecar
