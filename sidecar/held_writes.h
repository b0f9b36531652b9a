// What gRPC writes on the I/O threads is held back and leaves together once
// the handlers already queued have run: the responses that one read of
// Redis's replies completes go out in one TCP segment and wake their client
// once, where gRPC 1.51 gives each response a sendmsg of its own and the
// kernel a segment, a loopback delivery and a wake-up each (README, "Design
// notes: the thread model"; measured in tests/bench/results/).
//
// How: this process's `sendmsg` (which libgrpc's calls bind to) adds
// MSG_MORE to a write that libgrpc's code makes on a thread running run(),
// and once it is written notes the socket; the first noted posts one
// release(), which pushes each noted socket out (setting TCP_NODELAY again
// flushes what MSG_MORE kept). Every other write (Asio's to the brokers,
// gRPC's own threads') is untouched. server.hold_writes turns it off.
#pragma once

#include <memory>
#include <mutex>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace brokerside::sidecar {

class held_writes : public std::enable_shared_from_this<held_writes> {
 public:
  // `io` must outlive this object and its handlers.
  explicit held_writes(boost::asio::io_context& io);

  // Runs `io` on the calling thread, as io_context::run() does (returns when
  // it stops or runs out of work; a handler's exception propagates), with
  // gRPC's writes from this thread held until the next release().
  void run();

  // Pushes out every socket written since the last release. Thread-safe.
  void release();

  // A write of gRPC's on `fd` was held: release it soon. Thread-safe.
  void held(int fd);

  // Whether this process can tell gRPC's writes (libgrpc is a shared object
  // it found); if not, run() holds nothing.
  static bool available();

 private:
  boost::asio::io_context& io_;
  std::mutex mutex_;
  std::vector<int> fds_;         // sockets held since the last release; guarded by mutex_
  bool release_posted_ = false;  // a release() is queued; guarded by mutex_
};

}  // namespace brokerside::sidecar
