#include "pool/settings.h"

#include <gtest/gtest.h>

namespace brokerside::pool {
namespace {

TEST(settings, defaults_are_valid) {
  EXPECT_EQ(pool_settings{}.validate(), "");
  EXPECT_EQ(retry_settings{}.validate(), "");
  EXPECT_EQ(breaker_settings{}.validate(), "");
  EXPECT_EQ(lease_settings{}.validate(), "");
}

TEST(settings, pool_errors) {
  pool_settings s;
  s.max_connections = 0;
  EXPECT_EQ(s.validate(), "max_connections: must be at least 1");
  s = {};
  s.min_idle = 9;
  EXPECT_EQ(s.validate(), "min_idle: must not exceed max_connections");
  s = {};
  s.lifetime_jitter = 1;
  EXPECT_EQ(s.validate(), "lifetime_jitter: must be in [0, 1)");
  s = {};
  s.connect_timeout = millis(0);
  EXPECT_EQ(s.validate(), "connect_timeout: must be positive");
  s = {};
  s.max_in_flight = 0;
  EXPECT_EQ(s.validate(), "max_in_flight: must be at least 1");
}

TEST(settings, retry_errors) {
  retry_settings s;
  s.initial_interval = millis(0);
  EXPECT_EQ(s.validate(), "initial_interval: must be positive when retries are on");
  s.max_retries = 0;  // zero retries: the interval no longer matters
  EXPECT_EQ(s.validate(), "");
  s = {};
  s.multiplier = 0.5;
  EXPECT_EQ(s.validate(), "multiplier: must be at least 1");
  s = {};
  s.max_interval = millis(10);
  EXPECT_EQ(s.validate(), "max_interval: must not be below initial_interval");
  s = {};
  s.jitter = -0.1;
  EXPECT_EQ(s.validate(), "jitter: must be in [0, 1)");
  s = {};
  s.budget_ratio = -1;
  EXPECT_EQ(s.validate(), "budget_ratio: must not be negative");
  s = {};
  s.budget_window = millis(0);
  EXPECT_EQ(s.validate(), "budget_window: must be positive");
}

TEST(settings, breaker_and_lease_errors) {
  breaker_settings b;
  b.open_timeout = millis(0);
  EXPECT_EQ(b.validate(), "open_timeout: must be positive when the breaker is on");
  b.failure_threshold = 0;
  EXPECT_EQ(b.validate(), "");
  lease_settings l;
  l.default_ttl = millis(0);
  EXPECT_EQ(l.validate(), "default_ttl: must be positive");
  l = {};
  l.max_ttl = millis(1);
  EXPECT_EQ(l.validate(), "max_ttl: must not be below default_ttl");
}

}  // namespace
}  // namespace brokerside::pool
