#include "sidecar/trace_context.h"

#include <grpcpp/support/string_ref.h>

#include <algorithm>
#include <random>

namespace brokerside::sidecar {
namespace {

bool lower_hex(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool all_zeros(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '0'; });
}

std::string header_text(const v1::Value& v) {
  if (v.kind_case() == v1::Value::kText) return v.text();
  if (v.kind_case() == v1::Value::kBytes) return v.bytes();
  return {};
}

}  // namespace

bool valid_traceparent(std::string_view v) noexcept {
  // 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
  if (v.size() != 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return false;
  const auto version = v.substr(0, 2), trace = v.substr(3, 32), parent = v.substr(36, 16),
             flags = v.substr(53, 2);
  return version == "00" && lower_hex(trace) && lower_hex(parent) && lower_hex(flags) &&
         !all_zeros(trace) && !all_zeros(parent);
}

std::string new_traceparent() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  static constexpr char digits[] = "0123456789abcdef";
  std::string out = "00-";
  auto hex = [&](int n) {
    std::string s;
    do {
      s.clear();
      for (int i = 0; i < n; ++i) s += digits[rng() % 16];
    } while (all_zeros(s));
    out += s;
  };
  hex(32);
  out += '-';
  hex(16);
  out += "-01";
  return out;
}

trace_context trace_from_metadata(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
                                  bool generate) {
  trace_context t;
  if (const auto p = metadata.find("traceparent"); p != metadata.end()) {
    const std::string_view value(p->second.data(), p->second.size());
    if (valid_traceparent(value)) {
      t.parent = value;
      if (const auto s = metadata.find("tracestate"); s != metadata.end()) {
        t.state.assign(s->second.data(), s->second.size());
      }
    }
  }
  if (t.empty() && generate) t.parent = new_traceparent();
  return t;
}

void add_trace_headers(const trace_context& trace, v1::Message& message) {
  if (trace.empty() || message.headers().contains("traceparent")) return;
  auto& headers = *message.mutable_headers();
  headers["traceparent"].set_text(trace.parent);
  if (!trace.state.empty()) headers["tracestate"].set_text(trace.state);
}

trace_context trace_from_headers(const v1::Message& message) {
  trace_context t;
  const auto p = message.headers().find("traceparent");
  if (p == message.headers().end()) return t;
  auto parent = header_text(p->second);
  if (!valid_traceparent(parent)) return t;
  t.parent = std::move(parent);
  if (const auto s = message.headers().find("tracestate"); s != message.headers().end()) {
    t.state = header_text(s->second);
  }
  return t;
}

}  // namespace brokerside::sidecar
