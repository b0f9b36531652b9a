#include "sidecar/access_log.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

namespace brokerside::sidecar {

bool access_log::sampled(const trace_context& trace) const {
  if (sample_ <= 0) return false;
  if (sample_ >= 1) return true;
  double u = 0;
  if (const auto id = trace.trace_id(); !id.empty()) {
    // The trace id's last 16 hex digits (the random part in W3C's level 2)
    // as a fraction of 2^64.
    std::uint64_t n = 0;
    const auto tail = id.substr(16);
    std::from_chars(tail.data(), tail.data() + tail.size(), n, 16);
    u = static_cast<double>(n) / 18446744073709551616.0;
  } else {
    thread_local std::mt19937_64 rng(std::random_device{}());
    u = std::uniform_real_distribution<double>(0, 1)(rng);
  }
  return u < sample_;
}

std::string access_log::line(const entry& e, std::chrono::system_clock::time_point now) {
  const auto seconds = std::chrono::floor<std::chrono::seconds>(now);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now - seconds).count();
  nlohmann::json j = {
      {"time", fmt::format("{:%FT%T}.{:03}Z",
                           fmt::gmtime(std::chrono::system_clock::to_time_t(seconds)), millis)},
      {"caller", e.caller},
      {"target", e.target},
      {"operation", e.operation},
      {"status", e.status},
      {"duration_ms", std::chrono::duration<double, std::milli>(e.elapsed).count()}};
  if (!e.trace_id.empty()) j["trace_id"] = e.trace_id;
  if (!e.message.empty()) j["message"] = e.message;
  // Replace, not throw, on bytes that are not UTF-8 (a caller's key in an
  // error text).
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void access_log::write(const entry& e) const {
  const auto text = line(e, std::chrono::system_clock::now());
  std::lock_guard lock(mutex_);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

}  // namespace brokerside::sidecar
