// What the network-fault tests run: a steady load of Sends from client
// threads that keeps every call's outcome and duration against its
// deadline, and an observer that samples the target's health
// (grpc.health.v1 Check) and breaker and pool (Stats), with bounded waits
// on what it saw. Every loop here ends on its own. fault_checks.h holds
// what they assert and print.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "brokerside/v1/brokerside.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace brokerside::faults {

using steady = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;
using namespace std::chrono_literals;

// No loop in these tests runs longer than this.
constexpr auto loop_limit = 90s;

inline double seconds(steady::duration d) { return std::chrono::duration<double>(d).count(); }
inline long long millis(steady::duration d) { return std::chrono::duration_cast<ms>(d).count(); }

struct call {
  steady::time_point start;
  steady::duration took;
  ms deadline;
  grpc::StatusCode code;
  std::string message;
};

// `threads` clients, each sending one call at a time with the current
// deadline and `pause` between calls, until stop() (or loop_limit).
class load {
 public:
  using make_request = std::function<v1::SendRequest(int thread, int i)>;

  load(v1::Broker::Stub& stub, int threads, ms deadline, make_request next, ms pause = 5ms)
      : deadline_(deadline.count()) {
    const auto until = steady::now() + loop_limit;
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, &stub, next, pause, t, until] {
        for (int i = 0; !stop_ && steady::now() < until; ++i) {
          const auto request = next(t, i);
          const ms deadline(deadline_.load());
          grpc::ClientContext context;
          context.set_deadline(std::chrono::system_clock::now() + deadline);
          v1::SendResponse response;
          const auto start = steady::now();
          const auto status = stub.Send(&context, request, &response);
          const auto took = steady::now() - start;
          {
            std::lock_guard lock(mutex_);
            calls_.push_back({start, took, deadline, status.error_code(), status.error_message()});
          }
          std::this_thread::sleep_for(pause);
        }
      });
    }
  }
  ~load() { stop(); }

  void stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  void set_deadline(ms d) { deadline_ = d.count(); }

  // Waits until `n` calls that started at or after `from` have ended, or
  // `timeout` passed.
  void wait_for_calls(steady::time_point from, std::size_t n, ms timeout) const {
    const auto until = steady::now() + timeout;
    while (calls(from).size() < n && steady::now() < until) std::this_thread::sleep_for(10ms);
  }
  int threads() const { return static_cast<int>(threads_.size()); }

  // The calls that started in [from, to).
  std::vector<call> calls(steady::time_point from = {},
                          steady::time_point to = steady::time_point::max()) const {
    std::lock_guard lock(mutex_);
    std::vector<call> out;
    for (const auto& c : calls_) {
      if (c.start >= from && c.start < to) out.push_back(c);
    }
    return out;
  }

 private:
  std::atomic<long long> deadline_;  // ms, for the next calls
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<call> calls_;
  std::vector<std::thread> threads_;
};

struct sample {
  steady::time_point at;
  bool serving = false;  // grpc.health.v1 Check(target)
  v1::BreakerState breaker = v1::BREAKER_STATE_CLOSED;
  std::uint32_t busy = 0;  // operations in flight plus callers waiting, in the pool
  std::uint64_t disconnects = 0;
};

// Samples the target every `every` until destroyed (or loop_limit).
class observer {
 public:
  observer(std::shared_ptr<grpc::Channel> channel, std::string target, ms every = 20ms)
      : health_(grpc::health::v1::Health::NewStub(channel)),
        broker_(v1::Broker::NewStub(channel)),
        target_(std::move(target)) {
    thread_ = std::thread([this, every] {
      const auto until = steady::now() + loop_limit;
      while (!stop_ && steady::now() < until) {
        take();
        std::this_thread::sleep_for(every);
      }
    });
  }
  ~observer() {
    stop_ = true;
    thread_.join();
  }

  std::vector<sample> samples(steady::time_point from = {}) const {
    std::lock_guard lock(mutex_);
    std::vector<sample> out;
    for (const auto& s : samples_) {
      if (s.at >= from) out.push_back(s);
    }
    return out;
  }

  // When a sample taken at or after `from` first matched; waits for one up
  // to `timeout`.
  std::optional<steady::time_point> wait_for(const std::function<bool(const sample&)>& match,
                                             steady::time_point from, ms timeout) const {
    const auto until = steady::now() + timeout;
    for (;;) {
      for (const auto& s : samples(from)) {
        if (match(s)) return s.at;
      }
      if (steady::now() >= until) return std::nullopt;
      std::this_thread::sleep_for(10ms);
    }
  }

  // The breaker states seen from `from` on, repeats folded:
  // "closed > open > half_open > open > closed".
  std::string breaker_path(steady::time_point from = {}) const {
    std::string path;
    std::optional<v1::BreakerState> last;
    for (const auto& s : samples(from)) {
      if (last == s.breaker) continue;
      last = s.breaker;
      if (!path.empty()) path += " > ";
      path += s.breaker == v1::BREAKER_STATE_OPEN        ? "open"
              : s.breaker == v1::BREAKER_STATE_HALF_OPEN ? "half_open"
                                                         : "closed";
    }
    return path;
  }

  std::uint32_t max_busy(steady::time_point from = {}) const {
    std::uint32_t m = 0;
    for (const auto& s : samples(from)) m = std::max(m, s.busy);
    return m;
  }

 private:
  void take() {
    sample s;
    s.at = steady::now();
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(target_);
    grpc::health::v1::HealthCheckResponse response;
    grpc::ClientContext health_context;
    health_context.set_deadline(std::chrono::system_clock::now() + 1s);
    if (!health_->Check(&health_context, request, &response).ok()) return;
    s.serving = response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
    v1::StatsRequest stats_request;
    stats_request.set_target(target_);
    v1::StatsResponse stats;
    grpc::ClientContext stats_context;
    stats_context.set_deadline(std::chrono::system_clock::now() + 1s);
    if (!broker_->Stats(&stats_context, stats_request, &stats).ok() || stats.targets_size() != 1) {
      return;
    }
    const auto& t = stats.targets(0);
    s.breaker = t.breaker();
    s.busy = t.pool().in_flight() + t.pool().waiters();
    s.disconnects = t.counters().disconnects();
    std::lock_guard lock(mutex_);
    samples_.push_back(s);
  }

  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
  std::unique_ptr<v1::Broker::Stub> broker_;
  std::string target_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<sample> samples_;
  std::thread thread_;
};

}  // namespace brokerside::faults
