#include "tests/bench/run_control.h"

#include <thread>

namespace brokerside::bench {

double run_control::run() {
  std::this_thread::sleep_for(std::chrono::duration<double>(options_.warmup_s));
  const auto start = bench_clock::now();
  phase_.store(1, std::memory_order_release);
  {
    std::unique_lock lock(mutex_);
    if (options_.count != 0) {
      // A count is still bounded in time: ten minutes at most.
      cv_.wait_for(lock, std::chrono::minutes(10), [this] { return stopped_; });
    } else {
      cv_.wait_for(lock, std::chrono::duration<double>(options_.duration_s),
                   [this] { return stopped_; });
    }
  }
  phase_.store(2, std::memory_order_release);
  return std::chrono::duration<double>(bench_clock::now() - start).count();
}

void run_control::stop() {
  std::lock_guard lock(mutex_);
  stopped_ = true;
  cv_.notify_all();
}

void run_control::participant_done() {
  std::lock_guard lock(mutex_);
  --participants_;
  cv_.notify_all();
}

bool run_control::wait_drained(double limit_s) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, std::chrono::duration<double>(limit_s),
                      [this] { return participants_ == 0; });
}

}  // namespace brokerside::bench
