// Prometheus metrics of the sidecar, rendered in the text exposition format
// for the admin listener's /metrics. Call counting is lock-free: one atomic
// per (method, status code).
#pragma once

#include <grpcpp/support/status.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace brokerside::sidecar {

// The Broker service's methods, for per-method counters.
enum class rpc_method { send, send_stream, recv, acquire, renew, release, stats, count_ };

class metrics {
 public:
  metrics();

  // Counts one finished call (for streams: one finished stream) with its code.
  void count_call(rpc_method method, grpc::StatusCode code) noexcept;
  // Counts one operation finished on a SendStream with its code.
  void count_stream_operation(grpc::StatusCode code) noexcept;

  // The text exposition of these metrics (the pools' come from
  // render_pool_metrics()).
  std::string render() const;

  std::chrono::steady_clock::time_point started() const { return started_; }

 private:
  static constexpr std::size_t methods = static_cast<std::size_t>(rpc_method::count_);
  static constexpr std::size_t codes = 17;  // grpc::StatusCode 0..16

  std::chrono::steady_clock::time_point started_;  // for uptime
  std::int64_t start_time_seconds_;                // process_start_time_seconds
  std::array<std::array<std::atomic<std::uint64_t>, codes>, methods> calls_{};
  std::array<std::atomic<std::uint64_t>, codes> stream_operations_{};
};

// The name of a gRPC status code as gRPC spells it ("NOT_FOUND").
const char* status_code_name(grpc::StatusCode code) noexcept;

// Escapes a Prometheus label value.
std::string label_value(std::string_view text);

}  // namespace brokerside::sidecar
