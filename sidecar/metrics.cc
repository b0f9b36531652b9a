#include "sidecar/metrics.h"

#include <fmt/format.h>

#include "sidecar/version.h"

namespace brokerside::sidecar {
namespace {

constexpr const char* method_names[] = {"Send",  "SendStream", "Recv", "Acquire",
                                        "Renew", "Release",    "Stats"};

std::size_t code_index(grpc::StatusCode code) {
  const auto index = static_cast<std::size_t>(code);
  return index < 17 ? index : static_cast<std::size_t>(grpc::StatusCode::UNKNOWN);
}

}  // namespace

const char* status_code_name(grpc::StatusCode code) noexcept {
  static constexpr const char* names[] = {"OK",
                                          "CANCELLED",
                                          "UNKNOWN",
                                          "INVALID_ARGUMENT",
                                          "DEADLINE_EXCEEDED",
                                          "NOT_FOUND",
                                          "ALREADY_EXISTS",
                                          "PERMISSION_DENIED",
                                          "RESOURCE_EXHAUSTED",
                                          "FAILED_PRECONDITION",
                                          "ABORTED",
                                          "OUT_OF_RANGE",
                                          "UNIMPLEMENTED",
                                          "INTERNAL",
                                          "UNAVAILABLE",
                                          "DATA_LOSS",
                                          "UNAUTHENTICATED"};
  return names[code_index(code)];
}

std::string label_value(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

metrics::metrics()
    : started_(std::chrono::steady_clock::now()),
      start_time_seconds_(std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count()) {}

void metrics::count_call(rpc_method method, grpc::StatusCode code) noexcept {
  calls_[static_cast<std::size_t>(method)][code_index(code)].fetch_add(1,
                                                                       std::memory_order_relaxed);
}

void metrics::count_stream_operation(grpc::StatusCode code) noexcept {
  stream_operations_[code_index(code)].fetch_add(1, std::memory_order_relaxed);
}

std::string metrics::render() const {
  std::string out;
  auto append = [&out]<typename... Args>(fmt::format_string<Args...> format, Args&&... args) {
    fmt::format_to(std::back_inserter(out), format, std::forward<Args>(args)...);
  };
  append("# HELP brokerside_build_info The running build.\n");
  append("# TYPE brokerside_build_info gauge\n");
  append("brokerside_build_info{{version=\"{}\"}} 1\n", version);
  append("# HELP process_start_time_seconds Start time of the process since the epoch.\n");
  append("# TYPE process_start_time_seconds gauge\n");
  append("process_start_time_seconds {}\n", start_time_seconds_);
  append("# HELP brokerside_grpc_calls_total Finished Broker calls by method and status.\n");
  append("# TYPE brokerside_grpc_calls_total counter\n");
  for (std::size_t m = 0; m < methods; ++m) {
    for (std::size_t c = 0; c < codes; ++c) {
      const auto n = calls_[m][c].load(std::memory_order_relaxed);
      if (n == 0) continue;
      append("brokerside_grpc_calls_total{{method=\"{}\",code=\"{}\"}} {}\n", method_names[m],
             status_code_name(static_cast<grpc::StatusCode>(c)), n);
    }
  }
  append(
      "# HELP brokerside_stream_operations_total Operations finished on SendStream by status.\n");
  append("# TYPE brokerside_stream_operations_total counter\n");
  for (std::size_t c = 0; c < codes; ++c) {
    const auto n = stream_operations_[c].load(std::memory_order_relaxed);
    if (n == 0) continue;
    append("brokerside_stream_operations_total{{code=\"{}\"}} {}\n",
           status_code_name(static_cast<grpc::StatusCode>(c)), n);
  }
  return out;
}

}  // namespace brokerside::sidecar
