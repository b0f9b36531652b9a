#include "sidecar/pool_metrics.h"

#include <gtest/gtest.h>

namespace brokerside::sidecar {
namespace {

TEST(pool_metrics, renders_each_target) {
  const auto cfg = load_config("targets: {cache: {url: 'redis://h'}, q: {url: 'amqp://h'}}", {});
  pool::target_stats cache;
  cache.healthy = true;
  cache.pool.idle = 2;
  cache.pool.busy = 1;
  cache.pool.in_flight = 7;
  cache.pool.counters.connects = 3;
  cache.pool.counters.stalled = 5;
  cache.retries = 4;
  cache.breaker = pool::breaker_state::half_open;
  std::string out;
  render_pool_metrics(cfg, {{"cache", cache}}, out);
  for (const auto* expected : {
           "brokerside_target_healthy{target=\"cache\"} 1\n",
           "brokerside_target_healthy{target=\"q\"} 0\n",
           "brokerside_pool_connections{target=\"cache\",state=\"idle\"} 2\n",
           "brokerside_pool_connections{target=\"cache\",state=\"in_use\"} 1\n",
           "brokerside_pool_in_flight{target=\"cache\"} 7\n",
           "brokerside_connects_total{target=\"cache\"} 3\n",
           "brokerside_retries_total{target=\"cache\"} 4\n",
           "brokerside_stalled_total{target=\"cache\"} 5\n",
           "brokerside_breaker_open{target=\"cache\"} 1\n",
           "# TYPE brokerside_retries_total counter\n",
       }) {
    EXPECT_NE(out.find(expected), std::string::npos) << expected << "\n" << out;
  }
  // Targets without a pool have a health series but no pool series.
  EXPECT_EQ(out.find("brokerside_pool_in_flight{target=\"q\"}"), std::string::npos);
}

}  // namespace
}  // namespace brokerside::sidecar
