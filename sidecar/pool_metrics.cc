#include "sidecar/pool_metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <tuple>

#include "brokerside/v1/brokerside.pb.h"
#include "sidecar/metrics.h"

namespace brokerside::sidecar {
namespace {

struct family {
  const char* name;
  const char* type;
  const char* help;
  std::function<double(const pool::target_stats&)> value;
};

// Each node with a pool of its own (Redis Cluster masters), by target and node.
void render_node_metrics(const std::map<std::string, pool::target_stats>& pools, std::string& out) {
  auto line = [&out]<typename... Args>(fmt::format_string<Args...> format, Args&&... args) {
    fmt::format_to(std::back_inserter(out), format, std::forward<Args>(args)...);
  };
  const family families[] = {
      {"brokerside_node_healthy", "gauge",
       "1 while the node (a Redis Cluster master) is reachable with its breaker closed.",
       [](const auto& s) { return s.healthy ? 1 : 0; }},
      {"brokerside_node_connections", "gauge", "The node's pool's open connections.",
       [](const auto& s) {
         return s.pool.connecting + s.pool.idle + s.pool.checking + s.pool.busy + s.pool.leased;
       }},
      {"brokerside_node_in_flight", "gauge", "Operations awaiting the node's reply.",
       [](const auto& s) { return s.pool.in_flight; }},
      {"brokerside_node_operations_total", "counter", "Operations run on the node.",
       [](const auto& s) { return s.operations; }},
      {"brokerside_node_operation_errors_total", "counter", "Operations on the node that failed.",
       [](const auto& s) { return s.operation_errors; }},
  };
  for (const auto& f : families) {
    line("# HELP {} {}\n# TYPE {} {}\n", f.name, f.help, f.name, f.type);
    for (const auto& [name, s] : pools) {
      for (const auto& node : s.nodes) {
        line("{}{{target=\"{}\",node=\"{}\"}} {}\n", f.name, label_value(name),
             label_value(node.node), f.value(node));
      }
    }
  }
}

}  // namespace

void render_pool_metrics(const config& cfg, const std::map<std::string, pool::target_stats>& pools,
                         std::string& out) {
  auto line = [&out]<typename... Args>(fmt::format_string<Args...> format, Args&&... args) {
    fmt::format_to(std::back_inserter(out), format, std::forward<Args>(args)...);
  };
  line(
      "# HELP brokerside_target_healthy 1 while the target is reachable with its breaker "
      "closed.\n");
  line("# TYPE brokerside_target_healthy gauge\n");
  for (const auto& target : cfg.targets) {
    const auto it = pools.find(target.name);
    line("brokerside_target_healthy{{target=\"{}\"}} {}\n", label_value(target.name),
         it != pools.end() && it->second.healthy ? 1 : 0);
  }
  const family families[] = {
      {"brokerside_pool_connections", "gauge", "Open connections by state.", nullptr},
      {"brokerside_pool_waiters", "gauge", "Callers waiting for a connection.",
       [](const auto& s) { return s.pool.waiters; }},
      {"brokerside_pool_in_flight", "gauge", "Operations awaiting their reply.",
       [](const auto& s) { return s.pool.in_flight; }},
      {"brokerside_client_queued", "gauge",
       "Records the client library holds that the broker has not acknowledged (Kafka).",
       [](const auto& s) {
         std::uint64_t n = 0;
         for (const auto& [id, queued] : s.queued) n += queued;
         return n;
       }},
      {"brokerside_breaker_open", "gauge", "1 while the circuit breaker is open or half-open.",
       [](const auto& s) { return s.breaker == pool::breaker_state::closed ? 0 : 1; }},
      {"brokerside_operations_total", "counter", "Operations run.",
       [](const auto& s) { return s.operations; }},
      {"brokerside_operation_errors_total", "counter", "Operations that failed.",
       [](const auto& s) { return s.operation_errors; }},
      {"brokerside_connects_total", "counter", "Connections opened.",
       [](const auto& s) { return s.pool.counters.connects; }},
      {"brokerside_connect_failures_total", "counter", "Connects that failed.",
       [](const auto& s) { return s.pool.counters.connect_failures; }},
      {"brokerside_disconnects_total", "counter", "Connections closed.",
       [](const auto& s) { return s.pool.counters.disconnects; }},
      {"brokerside_write_pauses_total", "counter",
       "Times a connection's unwritten output passed write_high_water.",
       [](const auto& s) { return s.pool.counters.write_pauses; }},
      {"brokerside_stalled_total", "counter",
       "Connections closed for owing an answer a whole health_check_interval.",
       [](const auto& s) { return s.pool.counters.stalled; }},
      {"brokerside_retries_total", "counter", "Operations retried.",
       [](const auto& s) { return s.retries; }},
      {"brokerside_retry_budget_exhausted_total", "counter", "Retries refused by the budget.",
       [](const auto& s) { return s.retry_budget_exhausted; }},
      {"brokerside_pool_exhausted_total", "counter", "Calls refused: max_pending reached.",
       [](const auto& s) { return s.pool.counters.pool_exhausted; }},
      {"brokerside_cancelled_total", "counter",
       "Operations dropped unrun: their caller went away while they waited.",
       [](const auto& s) {
         auto n = s.cancelled;  // a Redis Cluster's operations wait in its nodes' pools
         for (const auto& node : s.nodes) n += node.cancelled;
         return n;
       }},
      {"brokerside_leases", "gauge", "Leases held.", [](const auto& s) { return s.leases.size(); }},
      {"brokerside_leases_reclaimed_total", "counter", "Leases that expired and were reclaimed.",
       [](const auto& s) { return s.leases_reclaimed; }},
      {"brokerside_deliveries_dropped_total", "counter",
       "Deliveries dropped because a Recv client did not keep up (no broker flow control).",
       [](const auto& s) { return s.deliveries_dropped; }},
      {"brokerside_dead_lettered_total", "counter",
       "Recv deliveries nacked without requeue and sent to the dead-letter destination.",
       [](const auto& s) { return s.dead_lettered; }},
      {"brokerside_acks_refused_total", "counter",
       "Recv acks and nacks for deliveries the broker had taken back (a rebalance).",
       [](const auto& s) { return s.acks_refused; }},
      {"brokerside_redirects_total", "counter",
       "Operations a node redirected (Redis Cluster MOVED / ASK) and that ran where it said.",
       [](const auto& s) {
         auto n = s.redirects;
         for (const auto& node : s.nodes) n += node.redirects;
         return n;
       }},
  };
  for (const auto& f : families) {
    line("# HELP {} {}\n# TYPE {} {}\n", f.name, f.help, f.name, f.type);
    for (const auto& [name, s] : pools) {
      const auto target = label_value(name);
      if (f.value) {
        line("{}{{target=\"{}\"}} {}\n", f.name, target, f.value(s));
        continue;
      }
      const std::pair<const char*, std::uint32_t> states[] = {
          {"connecting", s.pool.connecting},
          {"idle", s.pool.idle + s.pool.checking},
          {"in_use", s.pool.busy},
          {"leased", s.pool.leased}};
      for (const auto& [state, n] : states) {
        line("{}{{target=\"{}\",state=\"{}\"}} {}\n", f.name, target, state, n);
      }
    }
  }
  render_node_metrics(pools, out);
}

void render_recv_metrics(const config& cfg,
                         const std::vector<std::pair<std::string, v1::SubscriptionStats>>& streams,
                         std::string& out) {
  auto line = [&out]<typename... Args>(fmt::format_string<Args...> format, Args&&... args) {
    fmt::format_to(std::back_inserter(out), format, std::forward<Args>(args)...);
  };
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> per_target;  // streams, unsettled
  // One series per partition: while a rebalance moves it, two members may
  // both report it for a moment; the larger lag stands.
  std::map<std::tuple<std::string, std::string, std::string, std::int32_t>, std::int64_t> lag;
  for (const auto& target : cfg.targets) per_target[target.name];
  for (const auto& [target, s] : streams) {
    auto& [count, unsettled] = per_target[target];
    ++count;
    unsettled += s.unsettled();
    for (const auto& p : s.partitions()) {
      if (p.lag() < 0) continue;
      auto& l = lag[{target, s.group(), p.topic(), p.partition()}];
      l = std::max(l, p.lag());
    }
  }
  line("# HELP brokerside_recv_streams Open Recv streams.\n# TYPE brokerside_recv_streams gauge\n");
  for (const auto& [target, n] : per_target) {
    line("brokerside_recv_streams{{target=\"{}\"}} {}\n", label_value(target), n.first);
  }
  line(
      "# HELP brokerside_recv_unsettled Deliveries handed to Recv clients and not yet settled.\n"
      "# TYPE brokerside_recv_unsettled gauge\n");
  for (const auto& [target, n] : per_target) {
    line("brokerside_recv_unsettled{{target=\"{}\"}} {}\n", label_value(target), n.second);
  }
  line(
      "# HELP brokerside_recv_partition_lag Records of a partition its consumer group has not "
      "committed (Kafka, from librdkafka's statistics).\n"
      "# TYPE brokerside_recv_partition_lag gauge\n");
  for (const auto& [key, n] : lag) {
    const auto& [target, group, topic, partition] = key;
    line(
        "brokerside_recv_partition_lag{{target=\"{}\",group=\"{}\",topic=\"{}\","
        "partition=\"{}\"}} {}\n",
        label_value(target), label_value(group), label_value(topic), partition, n);
  }
}

}  // namespace brokerside::sidecar
