#include "sidecar/grpc_loop.h"

#include <grpcpp/completion_queue.h>
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <stdexcept>
#include <thread>

#include "sidecar/held_writes.h"

namespace {

// gRPC's epoll descriptor, once known.
std::atomic<int> grpc_epoll_fd{-1};
// While this thread probes gRPC with AsyncNext, the descriptor gRPC waits on
// (its own) is noted here; -2 when not probing.
thread_local int probed_fd = -2;

}  // namespace

// epoll1 (src/core/lib/iomgr/ev_epoll1_linux.cc) keeps what one epoll_wait
// returns, up to 100 events, in a buffer and handles one per pollset_work;
// events it has taken no longer make its descriptor readable, so a drain
// that stops at TIMEOUT could leave some behind with nothing to wake the
// loop. Given one event per call, it never keeps any. This definition is the
// one libgrpc's calls bind to (the executable's comes first); everything else
// (Asio's reactor) passes through unchanged.
extern "C" int epoll_wait(int epfd, struct epoll_event* events, int maxevents, int timeout) {
  if (probed_fd != -2) {
    probed_fd = epfd;
    maxevents = 1;
  }
  if (epfd == grpc_epoll_fd.load(std::memory_order_relaxed) && maxevents > 1) maxevents = 1;
  return epoll_pwait(epfd, events, maxevents, timeout, nullptr);
}

namespace brokerside::sidecar {

namespace asio = boost::asio;

struct grpc_loop::state {
  state(asio::io_context& io, bool hold_writes)
      : io(io),
        hold_writes(hold_writes),
        held(std::make_shared<held_writes>(io)),
        descriptor(io),
        net(io) {}

  asio::io_context& io;
  const bool hold_writes;                        // server.hold_writes
  std::shared_ptr<held_writes> held;             // gRPC's writes, pushed out together
  grpc::ServerCompletionQueue* queue = nullptr;  // set by start()
  int epfd = -1;                                 // gRPC's epoll descriptor
  asio::posix::stream_descriptor descriptor;     // a dup of it, watched
  asio::steady_timer net;                        // drains now and then (below)
  std::chrono::milliseconds net_every{100};      // the net's interval, adaptive
  std::atomic<bool> wake_posted{false};          // a wake()'s drain is queued
  std::atomic<bool> shut{false};                 // the queue said SHUTDOWN, or stop()
  std::atomic<long> calls{0};                    // call objects alive

  // Until TIMEOUT with gRPC's descriptor no longer readable; how many
  // completions it handled. What it had gRPC write is held until it ends
  // (one drain may answer many calls), not until the handlers queued
  // behind it have run.
  long drain() {
    long handled = 0;
    while (!shut.load(std::memory_order_relaxed)) {
      void* tag = nullptr;
      bool ok = false;
      const auto status = queue->AsyncNext(&tag, &ok, gpr_inf_past(GPR_CLOCK_MONOTONIC));
      if (status == grpc::CompletionQueue::GOT_EVENT) {
        ++handled;
        static_cast<loop_tag*>(tag)->on_event(ok);
        continue;
      }
      if (status == grpc::CompletionQueue::SHUTDOWN) break;
      pollfd readable{epfd, POLLIN, 0};
      if (::poll(&readable, 1, 0) <= 0) break;
    }
    held->release_if_pending();
    return handled;
  }

  // Armed before draining, so an event that comes during the drain (Asio's
  // registration is edge-triggered) completes the next wait.
  static void watch(const std::shared_ptr<state>& s) {
    s->descriptor.async_wait(asio::posix::descriptor_base::wait_read,
                             [s](const boost::system::error_code& ec) {
                               if (ec || s->shut.load()) return;
                               watch(s);
                               s->drain();
                             });
  }

  // A completion gRPC queues from a thread of its own (a deadline's timer,
  // its executor), or one that a thread polling gRPC for another queue takes
  // (a gRPC client in the same process: the tests), wakes no one. The net
  // drains every 100 ms while it finds nothing, every millisecond while it
  // does.
  static void cast_net(const std::shared_ptr<state>& s) {
    s->net.expires_after(s->net_every);
    s->net.async_wait([s](const boost::system::error_code& ec) {
      if (ec || s->shut.load()) return;
      const bool found = s->drain() > 0;
      s->net_every = found ? std::chrono::milliseconds(1)
                           : std::min(s->net_every * 2, std::chrono::milliseconds(100));
      cast_net(s);
    });
  }
};

grpc_loop::grpc_loop(asio::io_context& io, bool hold_writes)
    : state_(std::make_shared<state>(io, hold_writes)) {}

grpc_loop::~grpc_loop() {
  if (state_->queue != nullptr && !state_->shut.load()) stop();
}

void grpc_loop::start(grpc::ServerCompletionQueue& queue) {
  auto& s = *state_;
  s.queue = &queue;
  // gRPC's descriptor is the one its poller waits on when this thread polls
  // (asked each time: gRPC makes a new one if it was shut down in between).
  // Another thread may be polling gRPC just then (a client in the same
  // process), so ask a few times.
  int found = -1;
  for (int attempt = 0; found < 0 && attempt < 200; ++attempt) {
    probed_fd = -1;
    void* tag = nullptr;
    bool ok = false;
    const auto status = queue.AsyncNext(&tag, &ok, gpr_inf_past(GPR_CLOCK_MONOTONIC));
    found = probed_fd;
    probed_fd = -2;
    if (status == grpc::CompletionQueue::GOT_EVENT) static_cast<loop_tag*>(tag)->on_event(ok);
    if (found < 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (found >= 0) grpc_epoll_fd.store(found);
  s.epfd = grpc_epoll_fd.load();
  if (s.epfd < 0) {
    throw std::runtime_error(
        "gRPC's poller is not epoll1 (is GRPC_POLL_STRATEGY set?): brokerside serves gRPC from "
        "its own threads and needs it");
  }
  s.descriptor.assign(::dup(s.epfd));
  state::watch(state_);
  state::cast_net(state_);
  wake();
}

void grpc_loop::run() {
  const auto s = state_;  // the thread's, while it runs
  if (s->hold_writes) {
    s->held->run();
  } else {
    s->io.run();
  }
}

void grpc_loop::wake() {
  auto s = state_;
  if (s->wake_posted.exchange(true)) return;
  asio::post(s->io, [s] {
    s->wake_posted = false;
    s->drain();
  });
}

void grpc_loop::call_made() { state_->calls.fetch_add(1, std::memory_order_relaxed); }

void grpc_loop::call_gone() { state_->calls.fetch_sub(1, std::memory_order_acq_rel); }

void grpc_loop::stop() {
  auto s = state_;
  if (s->queue == nullptr || s->shut.exchange(true)) return;
  void* tag = nullptr;
  bool ok = false;
  // An operation started on a queue that is shut down aborts the process.
  while (s->calls.load(std::memory_order_acquire) > 0) {
    const auto deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(10);
    if (s->queue->AsyncNext(&tag, &ok, deadline) == grpc::CompletionQueue::GOT_EVENT) {
      static_cast<loop_tag*>(tag)->on_event(ok);
    }
  }
  s->queue->Shutdown();
  while (s->queue->Next(&tag, &ok)) static_cast<loop_tag*>(tag)->on_event(ok);
  s->held->release();
  // Asio's objects belong to its threads.
  asio::post(s->io, [s] {
    boost::system::error_code ignored;
    s->descriptor.close(ignored);
    s->net.cancel();
  });
}

}  // namespace brokerside::sidecar
