// server.max_memory: the process's resident memory, read every 250 ms; while
// it is above the limit, new work (Send and SendStream operations, new
// streams, leases) is refused with RESOURCE_EXHAUSTED naming the setting,
// rather than the kernel's OOM killer ending every app's broker access at
// once. Work already running goes on (it is what frees the memory); health,
// Stats and /metrics still answer. 0: off (the resident size is still read,
// for /metrics).
#pragma once

#include <grpcpp/support/status.h>

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <string>

namespace brokerside::sidecar {

// The process's resident set size in bytes, from /proc/self/statm (0 if
// unreadable).
std::uint64_t resident_bytes() noexcept;

class memory_guard {
 public:
  // `limit` in bytes; 0: never refuses.
  memory_guard(boost::asio::any_io_executor executor, std::uint64_t limit);

  // Reads now, then every 250 ms on the executor until stop().
  void start();
  void stop();

  // Whether new work is refused now (any thread, one relaxed load).
  bool over() const noexcept { return over_.load(std::memory_order_relaxed); }
  // OK, or the refusal (counted) while over().
  grpc::Status admit() const;

  // Checks `resident` against the limit (what the timer does with the
  // reading; public for tests).
  void observe(std::uint64_t resident) noexcept;

  // brokerside_resident_memory_bytes, brokerside_max_memory_bytes,
  // brokerside_memory_refusals_total.
  void render(std::string& out) const;

 private:
  void schedule();

  boost::asio::steady_timer timer_;
  const std::uint64_t limit_;
  std::atomic<bool> over_{false};
  std::atomic<std::uint64_t> resident_{0};
  mutable std::atomic<std::uint64_t> refusals_{0};
  std::atomic<bool> stopped_{false};
};

}  // namespace brokerside::sidecar
