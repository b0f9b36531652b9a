#include "sidecar/stats_console.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "brokerside/v1/brokerside.pb.h"
#include "pool/latency_histogram.h"

namespace brokerside::sidecar {
namespace {

// A reading with `ops` operations, `errors` failed, and `fast` calls in the
// 100-250 µs bucket plus `slow` in the 25-50 ms one.
v1::StatsResponse reading(std::uint64_t ops, std::uint64_t errors, std::uint64_t fast,
                          std::uint64_t slow) {
  v1::StatsResponse r;
  r.set_version("0.1.0");
  r.mutable_uptime()->set_seconds(125);
  auto& t = *r.add_targets();
  t.set_name("cache");
  t.set_adapter("redis");
  t.set_adapter_implemented(true);
  t.set_healthy(true);
  t.mutable_pool()->set_max_connections(8);
  t.mutable_pool()->set_idle(2);
  t.mutable_pool()->set_in_use(1);
  t.mutable_pool()->set_leased(1);
  t.mutable_counters()->set_operations(ops);
  t.mutable_counters()->set_operation_errors(errors);
  auto& h = (*t.mutable_latencies())["call.command"];
  for (const auto b : pool::latency_histogram::bounds) h.add_bounds_seconds(b);
  for (std::size_t i = 0; i < pool::latency_histogram::buckets; ++i) {
    h.add_counts(i == 3 ? fast : i == 10 ? slow : 0);  // le=0.00025, le=0.05
  }
  h.set_count(fast + slow);
  auto& lease = *t.add_leases();
  lease.set_lease("cache/l-1");
  lease.set_holder("ipv4:127.0.0.1:5000");
  lease.mutable_age()->set_seconds(75);
  lease.mutable_ttl_remaining()->set_seconds(5);
  auto& gone = *r.add_targets();
  gone.set_name("gone");
  gone.set_adapter("redis");
  gone.set_adapter_implemented(true);
  gone.set_breaker(v1::BREAKER_STATE_OPEN);
  return r;
}

TEST(stats_console, the_table_shows_rates_and_percentiles_over_the_interval) {
  const auto before = reading(1000, 10, 100, 0);
  // In 2 s: 400 operations, 4 failed; 98 fast calls and 2 slow ones.
  const auto now = reading(1400, 14, 198, 2);
  const auto table = render_stats_table(now, &before, 2.0, "127.0.0.1:7300");
  EXPECT_NE(table.find("brokerside 0.1.0 at 127.0.0.1:7300, up 2m05s"), std::string::npos) << table;
  // ops/s 200, errors/s 2, p50 inside 100-250 µs, p99 in the slow bucket.
  EXPECT_NE(table.find("cache            redis   up                    2/1/1/8     0      0      "
                       "200      2    177us   37.5ms     0      1"),
            std::string::npos)
      << table;
  EXPECT_NE(table.find("gone             redis   open"), std::string::npos) << table;
  EXPECT_NE(table.find("cache/l-1"), std::string::npos);
  EXPECT_NE(table.find("ipv4:127.0.0.1:5000"), std::string::npos);
  EXPECT_NE(table.find("1m15s"), std::string::npos);
  // The first reading has nothing to compare with: no rates yet.
  const auto first = render_stats_table(now, nullptr, 0, "a");
  EXPECT_NE(first.find("(none yet)"), std::string::npos);
}

TEST(stats_console, json_has_the_same_figures) {
  const auto before = reading(1000, 10, 100, 0);
  const auto now = reading(1400, 14, 198, 2);
  const auto j = nlohmann::json::parse(render_stats_json(now, &before, 2.0));
  EXPECT_EQ(j["uptime_seconds"], 125);
  const auto& cache = j["targets"][0];
  EXPECT_EQ(cache["state"], "up");
  EXPECT_DOUBLE_EQ(cache["ops_per_second"].get<double>(), 200);
  EXPECT_DOUBLE_EQ(cache["errors_per_second"].get<double>(), 2);
  EXPECT_NEAR(cache["p50_seconds"].get<double>(), 0.000177, 0.000001);
  EXPECT_EQ(cache["connections"]["leased"], 1);
  EXPECT_EQ(cache["leases"][0]["age_seconds"], 75);
  EXPECT_TRUE(j["targets"][1]["p99_seconds"].is_null());  // no calls in the interval
}

}  // namespace
}  // namespace brokerside::sidecar
