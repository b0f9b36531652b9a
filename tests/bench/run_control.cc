#include "tests/bench/run_control.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace brokerside::bench {
namespace {

struct usage {
  double cpu_s = 0;            // user + system, all threads
  std::uint64_t switches = 0;  // voluntary + involuntary, all threads
};

usage read_usage(int pid) {
  usage u;
  const std::string dir = "/proc/" + std::to_string(pid);
  std::ifstream stat(dir + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  // Fields after the command name (which may hold spaces) in parentheses.
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  unsigned long utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 14) utime = std::stoul(field);
    if (i == 15) {
      stime = std::stoul(field);
      break;
    }
  }
  u.cpu_s = double(utime + stime) / double(::sysconf(_SC_CLK_TCK));
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator(dir + "/task", ec)) {
    std::ifstream status(task.path() / "status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0 ||
          line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) {
        u.switches += std::stoull(line.substr(line.find(':') + 1));
      }
    }
  }
  return u;
}

}  // namespace

double run_control::run() {
  std::this_thread::sleep_for(std::chrono::duration<double>(options_.warmup_s));
  const usage before = options_.server_pid != 0 ? read_usage(options_.server_pid) : usage{};
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
  const double seconds = std::chrono::duration<double>(bench_clock::now() - start).count();
  if (options_.server_pid != 0) {
    const usage after = read_usage(options_.server_pid);
    server_usage_["pid"] = options_.server_pid;
    server_usage_["cpu_s"] = after.cpu_s - before.cpu_s;
    server_usage_["context_switches"] = after.switches - before.switches;
  }
  return seconds;
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
