#include "sidecar/latency_metrics.h"

#include <fmt/format.h>

#include <iterator>

#include "sidecar/metrics.h"

namespace brokerside::sidecar {
namespace {

// One histogram series in the text format: cumulative buckets, +Inf, sum
// and count. `labels` is "target=\"x\"" and more, without braces.
void render_histogram(std::string& out, const char* name, const std::string& labels,
                      const pool::latency_histogram::snapshot& s) {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < pool::latency_histogram::bounds.size(); ++i) {
    cumulative += s.counts[i];
    fmt::format_to(std::back_inserter(out), "{}_bucket{{{},le=\"{}\"}} {}\n", name, labels,
                   pool::latency_histogram::bounds[i], cumulative);
  }
  fmt::format_to(std::back_inserter(out), "{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels,
                 s.count);
  fmt::format_to(std::back_inserter(out), "{}_sum{{{}}} {}\n{}_count{{{}}} {}\n", name, labels,
                 s.sum_seconds, name, labels, s.count);
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

void render_latency_metrics(const target_set& targets, std::string& out) {
  const auto& cfg = targets.configuration();
  header(out, "brokerside_call_duration_seconds", "histogram",
         "Send and SendStream operations from their arrival to their outcome, waits and retries "
         "included, by operation kind.");
  for (const auto& t : cfg.targets) {
    const auto e = targets.find(t.name);
    if (!e) continue;
    for (std::size_t k = 0; k < target_observations::kind_names.size(); ++k) {
      render_histogram(out, "brokerside_call_duration_seconds",
                       fmt::format("target=\"{}\",kind=\"{}\"", label_value(t.name),
                                   target_observations::kind_names[k]),
                       e->observed->calls[k].read());
    }
  }
  struct pool_family {
    const char* name;
    const char* help;
    const pool::latency_histogram& (pool::target_pool::*histogram)() const noexcept;
  };
  const pool_family pool_families[] = {
      {"brokerside_pool_wait_seconds", "Waits of operations for a pooled connection.",
       &pool::target_pool::wait_latency},
      {"brokerside_broker_round_trip_seconds",
       "Attempts from handing the operation to a connection until the broker's answer.",
       &pool::target_pool::round_trip_latency},
  };
  for (const auto& f : pool_families) {
    header(out, f.name, "histogram", f.help);
    for (const auto& t : cfg.targets) {
      const auto e = targets.find(t.name);
      if (!e || !e->pool) continue;
      render_histogram(out, f.name, fmt::format("target=\"{}\"", label_value(t.name)),
                       ((*e->pool).*f.histogram)().read());
    }
  }
  header(out, "brokerside_recv_settle_seconds", "histogram",
         "Recv deliveries from their hand-over to the client until its ack or nack.");
  for (const auto& t : cfg.targets) {
    const auto e = targets.find(t.name);
    if (!e) continue;
    render_histogram(out, "brokerside_recv_settle_seconds",
                     fmt::format("target=\"{}\"", label_value(t.name)), e->observed->settle.read());
  }
  header(out, "brokerside_bytes_total", "counter",
         "Encoded size of the operations sent to the broker and of the outcomes and deliveries "
         "that came back (the app's messages, not the broker protocol's framing).");
  for (const auto& t : cfg.targets) {
    const auto e = targets.find(t.name);
    if (!e) continue;
    const auto target = label_value(t.name);
    fmt::format_to(std::back_inserter(out),
                   "brokerside_bytes_total{{target=\"{}\",direction=\"to_broker\"}} {}\n"
                   "brokerside_bytes_total{{target=\"{}\",direction=\"from_broker\"}} {}\n",
                   target, e->observed->bytes_to_broker.load(std::memory_order_relaxed), target,
                   e->observed->bytes_from_broker.load(std::memory_order_relaxed));
  }
  header(out, "brokerside_subscriber_connections", "gauge",
         "Connections a target's Recv streams share outside its pool (Redis pub/sub), open now.");
  for (const auto& t : cfg.targets) {
    const auto e = targets.find(t.name);
    if (!e || !e->operations) continue;
    fmt::format_to(std::back_inserter(out),
                   "brokerside_subscriber_connections{{target=\"{}\"}} {}\n", label_value(t.name),
                   e->operations->subscriber_connections());
  }
}

}  // namespace brokerside::sidecar
