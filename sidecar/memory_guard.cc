#include "sidecar/memory_guard.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace brokerside::sidecar {
namespace {

std::string mib(std::uint64_t bytes) { return fmt::format("{:.0f} MiB", bytes / 1048576.0); }

}  // namespace

std::uint64_t resident_bytes() noexcept {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long size = 0, resident = 0;
  const int read = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (read != 2) return 0;
  return static_cast<std::uint64_t>(resident) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

memory_guard::memory_guard(boost::asio::any_io_executor executor, std::uint64_t limit)
    : timer_(std::move(executor)), limit_(limit) {}

void memory_guard::start() {
  observe(resident_bytes());
  schedule();
}

void memory_guard::stop() {
  stopped_ = true;
  timer_.cancel();
}

void memory_guard::schedule() {
  timer_.expires_after(std::chrono::milliseconds(250));
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    observe(resident_bytes());
    schedule();
  });
}

void memory_guard::observe(std::uint64_t resident) noexcept {
  resident_.store(resident, std::memory_order_relaxed);
  if (limit_ == 0) return;
  // Back under at 95 % of the limit, so a process right at it does not
  // flip every reading.
  const bool was = over_.load(std::memory_order_relaxed);
  const bool now = was ? resident > limit_ / 20 * 19 : resident > limit_;
  if (now == was) return;
  over_.store(now, std::memory_order_relaxed);
  if (now) {
    spdlog::warn("resident memory {} is above server.max_memory ({}): new work is refused",
                 mib(resident), mib(limit_));
  } else {
    spdlog::info("resident memory {} is below server.max_memory again: new work is taken",
                 mib(resident));
  }
}

grpc::Status memory_guard::admit() const {
  if (!over()) return grpc::Status::OK;
  refusals_.fetch_add(1, std::memory_order_relaxed);
  return {grpc::StatusCode::RESOURCE_EXHAUSTED, "brokerside is above server.max_memory (" +
                                                    mib(resident_.load(std::memory_order_relaxed)) +
                                                    " resident, limit " + mib(limit_) +
                                                    "); retry shortly or elsewhere"};
}

void memory_guard::render(std::string& out) const {
  fmt::format_to(std::back_inserter(out),
                 "# HELP brokerside_resident_memory_bytes Resident memory of the process.\n"
                 "# TYPE brokerside_resident_memory_bytes gauge\n"
                 "brokerside_resident_memory_bytes {}\n"
                 "# HELP brokerside_max_memory_bytes server.max_memory (0: off).\n"
                 "# TYPE brokerside_max_memory_bytes gauge\n"
                 "brokerside_max_memory_bytes {}\n"
                 "# HELP brokerside_memory_refusals_total Calls and operations refused above "
                 "server.max_memory.\n"
                 "# TYPE brokerside_memory_refusals_total counter\n"
                 "brokerside_memory_refusals_total {}\n",
                 resident_.load(std::memory_order_relaxed), limit_,
                 refusals_.load(std::memory_order_relaxed));
}

}  // namespace brokerside::sidecar
