// The phases of one load run, shared by every in-flight slot: warm-up (not
// measured), measuring (for a duration or until `count` calls completed),
// stopping (no new calls; outstanding ones drain).
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "tests/bench/latency_recorder.h"
#include "tests/bench/load_options.h"

namespace brokerside::bench {

class run_control {
 public:
  explicit run_control(const load_options& o) : options_(o) {}

  bool measuring() const { return phase_.load(std::memory_order_acquire) == 1; }
  bool stopping() const { return phase_.load(std::memory_order_acquire) == 2; }

  // A call completed while measuring; the one that reaches `count` stops the run.
  void completed() {
    if (measured_.fetch_add(1, std::memory_order_relaxed) + 1 == options_.count) stop();
  }

  // Blocks through warm-up and the measured phase, then switches to stopping.
  // Returns the measured seconds.
  double run();

  // The server's CPU seconds and context switches over the measured window
  // (with --server-pid; an empty object otherwise).
  nlohmann::json server_usage() const { return server_usage_; }

  // Drain accounting: the run is over once every participant has finished.
  void add_participant() { ++participants_; }
  void participant_done();
  // Waits (at most `limit_s`) for every participant; false on timeout.
  bool wait_drained(double limit_s);

 private:
  void stop();

  const load_options& options_;
  std::atomic<int> phase_{0};                               // 0 warm-up, 1 measuring, 2 stopping
  std::atomic<std::uint64_t> measured_{0};                  // calls completed while measuring
  std::mutex mutex_;                                        // guards the counters below, with cv_
  std::condition_variable cv_;                              // signals stop and drain
  int participants_ = 0;                                    // slots or streams not yet drained
  bool stopped_ = false;                                    // stop() was called
  nlohmann::json server_usage_ = nlohmann::json::object();  // see server_usage()
};

}  // namespace brokerside::bench
