// What gRPC writes on the I/O threads for one client, when several of its
// responses are finished together, is held back and leaves together at the
// end of the turn: the responses that one read of Redis's replies finishes
// go out in one TCP segment and wake their client once, where gRPC 1.51
// gives each response a sendmsg of its own and the kernel a segment, a
// loopback delivery and a wake-up each (README, "Design notes: the thread
// model"; measured in tests/bench/results/).
//
// How: this process's `sendmsg` (which libgrpc's calls bind to) asks
// writing() about each write that libgrpc's code makes on a thread running
// run(); one to hold gets MSG_MORE and, once written, its socket is noted.
// A thread's first write of a turn schedules a release() of its own — at
// the end of its dispatch turn, of grpc_loop's drain, or else once the
// handler at hand returns — which pushes each noted socket out (setting
// TCP_NODELAY again flushes what MSG_MORE kept) and ends the turn. A socket's first write of a turn
// is held only if its last turn had more than one, so a lone response costs nothing. Every other
// write (Asio's to the brokers, gRPC's own threads') is untouched. server.hold_writes turns it off.
#pragma once

#include <cstdint>
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

  // Pushes out every socket held since the last release, and ends the turn
  // the writes since then were counted in. Thread-safe.
  void release();

  // gRPC is about to write on `fd`: whether to hold it. Not its first write
  // since the last release (a response finished beside another), or the
  // socket's last turn had more than one: hold. A lone write goes at once,
  // so a client that has one call in flight pays nothing. Thread-safe.
  bool writing(int fd);

  // A write of gRPC's on `fd` was held: release it soon. Thread-safe.
  void held(int fd);

  // If this thread has a release scheduled, releases now (the scheduled one
  // then finds little or nothing): for the end of a long handler that opens
  // no dispatch turn, grpc_loop's drain.
  void release_if_pending();

  // Whether this process can tell gRPC's writes (libgrpc is a shared object
  // it found); if not, run() holds nothing.
  static bool available();

 private:
  void schedule_release();  // this thread's, unless one is pending (mutex_ not held)

  boost::asio::io_context& io_;
  // Guards everything below.
  std::mutex mutex_;
  std::vector<int> held_;     // sockets held since the last release
  std::vector<int> touched_;  // sockets written since the last release
  struct socket_turn {
    std::uint8_t writes = 0;  // since the last release (2: more)
    bool busy = false;        // its last turn had more than one
  };
  std::vector<socket_turn> sockets_;  // by descriptor
};

}  // namespace brokerside::sidecar
