#include "sidecar/caller_metrics.h"

#include <fmt/format.h>

#include "sidecar/metrics.h"

namespace brokerside::sidecar {

void render_caller_metrics(const std::vector<caller_snapshot>& callers, std::string& out) {
  if (callers.empty()) return;
  auto line = [&out]<typename... Args>(fmt::format_string<Args...> format, Args&&... args) {
    fmt::format_to(std::back_inserter(out), format, std::forward<Args>(args)...);
  };
  struct family {
    const char *name, *type, *help;
    std::uint64_t (*value)(const caller_snapshot&);
  };
  const family families[] = {
      {"brokerside_caller_operations_total", "counter",
       "Send and SendStream operations admitted, by caller identity.",
       [](const caller_snapshot& c) { return c.operations; }},
      {"brokerside_caller_in_flight", "gauge", "Operations in flight, by caller identity.",
       [](const caller_snapshot& c) { return std::uint64_t{c.in_flight}; }},
      {"brokerside_caller_streams", "gauge",
       "Open SendStream and Recv streams, by caller identity.",
       [](const caller_snapshot& c) { return std::uint64_t{c.streams}; }},
  };
  for (const auto& f : families) {
    line("# HELP {} {}\n# TYPE {} {}\n", f.name, f.help, f.name, f.type);
    for (const auto& c : callers) {
      line("{}{{caller=\"{}\"}} {}\n", f.name, label_value(caller_label(c.identity)), f.value(c));
    }
  }
  line(
      "# HELP brokerside_caller_denied_total Calls refused PERMISSION_DENIED, by caller identity "
      "and the setting that refused them.\n# TYPE brokerside_caller_denied_total counter\n");
  for (const auto& c : callers) {
    for (const auto& [rule, n] : c.denied) {
      line("brokerside_caller_denied_total{{caller=\"{}\",rule=\"{}\"}} {}\n",
           label_value(caller_label(c.identity)), label_value(rule), n);
    }
  }
  line(
      "# HELP brokerside_caller_throttled_total Calls refused RESOURCE_EXHAUSTED by a quota, by "
      "caller identity and quota.\n# TYPE brokerside_caller_throttled_total counter\n");
  for (const auto& c : callers) {
    for (const auto& [quota, n] : c.throttled) {
      line("brokerside_caller_throttled_total{{caller=\"{}\",quota=\"{}\"}} {}\n",
           label_value(caller_label(c.identity)), label_value(quota), n);
    }
  }
}

void fill_caller_stats(const std::vector<caller_snapshot>& callers, v1::StatsResponse& out) {
  for (const auto& c : callers) {
    auto& s = *out.add_callers();
    s.set_identity(std::string(caller_label(c.identity)));
    s.set_operations(c.operations);
    s.set_in_flight(c.in_flight);
    s.set_streams(c.streams);
    for (const auto& [rule, n] : c.denied) (*s.mutable_denied())[rule] = n;
    for (const auto& [quota, n] : c.throttled) (*s.mutable_throttled())[quota] = n;
  }
}

}  // namespace brokerside::sidecar
