// One thread's dispatch turn: a connection that hands out many replies from
// one read, or a SendStream reactor that starts a batch of operations, opens
// a turn around them, and what they defer to the end of the turn runs once
// they are all handed out: a connection writes what the turn queued in one
// write, a SendStream writes the outcomes that completed together in one
// message, and the posts the turn made to one strand go there as one handler
// (one wake-up of its thread for a batch, not one each). What "together"
// means is said by the one place that knows: the read or the message that
// carried them. Turns nest; only the outermost runs the deferred work. No
// locks: everything is this thread's.
#pragma once

#include <boost/asio/post.hpp>
#include <functional>
#include <utility>

#include "protocol/io_strand.h"

namespace brokerside::protocol {

class dispatch_turn {
 public:
  dispatch_turn() noexcept;
  // Runs what was deferred to this turn, in the order deferred (work that
  // defers more while it runs is run too), then makes the posts it kept.
  ~dispatch_turn();
  dispatch_turn(const dispatch_turn&) = delete;
  dispatch_turn& operator=(const dispatch_turn&) = delete;

  // Whether a turn is open on this thread.
  static bool open() noexcept;

  // Runs `work` at the end of this thread's open turn. Returns false, and
  // neither runs nor keeps `work`, when no turn is open: the caller then
  // does it now.
  static bool defer(std::function<void()> work);

  // asio::post(strand, work), except inside a turn: then every post the
  // turn makes to `strand` waits for the turn's end and goes as one handler,
  // which runs them in order inside a turn of its own.
  template <typename Work>
  static void post(const io_strand& strand, Work&& work) {
    if (!open()) {
      boost::asio::post(strand, std::forward<Work>(work));
      return;
    }
    keep_post(strand, std::function<void()>(std::forward<Work>(work)));
  }

 private:
  static void keep_post(const io_strand& strand, std::function<void()> work);
};

}  // namespace brokerside::protocol
