// Quotas and per-caller counters, without a server; the token bucket with
// time passed in.
#include "sidecar/caller_table.h"

#include <gtest/gtest.h>

#include "sidecar/config.h"

namespace brokerside::sidecar {
namespace {

using namespace std::chrono_literals;

TEST(token_bucket, refills_at_its_rate_up_to_its_capacity) {
  const auto t0 = token_bucket::clock::time_point{} + 1h;
  token_bucket b(10, 5, t0);  // 10 a second, 5 at most
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(b.take(1, t0, true));
  EXPECT_FALSE(b.take(1, t0, true));
  EXPECT_FALSE(b.take(1, t0 + 50ms, true));  // half a token
  EXPECT_TRUE(b.take(1, t0 + 100ms, true));
  EXPECT_FALSE(b.take(1, t0 + 100ms, true));
  // An hour idle fills it to 5, no more.
  int taken = 0;
  while (b.take(1, t0 + 2h, true)) ++taken;
  EXPECT_EQ(taken, 5);
}

TEST(token_bucket, a_large_amount_passes_once_and_leaves_a_debt) {
  const auto t0 = token_bucket::clock::time_point{} + 1h;
  token_bucket bytes(1000, 100, t0);            // 1000 bytes a second, 100 at once
  EXPECT_TRUE(bytes.take(5000, t0, false));     // larger than the capacity: still passes
  EXPECT_FALSE(bytes.take(1, t0 + 4s, false));  // 4,900 in debt, 4,000 refilled
  EXPECT_TRUE(bytes.take(1, t0 + 5s, false));   // the average held to the rate
}

config quota_config() {
  config c;
  quota_settings q;
  q.path = "quotas[0]";
  q.callers = {"token:batch*"};
  q.in_flight = 2;
  q.streams = 1;
  c.quotas.push_back(q);
  quota_settings rate;
  rate.path = "quotas[1]";
  rate.callers = {"token:slow"};
  rate.operations_per_second = 1;
  rate.burst = 3s;
  c.quotas.push_back(rate);
  return c;
}

TEST(caller_table, in_flight_and_streams_are_held_until_released) {
  const auto cfg = quota_config();
  caller_table table(cfg, true);
  std::shared_ptr<operation_slot> a, b, c;
  ASSERT_TRUE(table.admit_operation("token:batch-1", 10, a).ok());
  ASSERT_TRUE(table.admit_operation("token:batch-1", 10, b).ok());
  const auto refused = table.admit_operation("token:batch-1", 10, c);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(refused.error_message(),
            "quota exceeded: 'token:batch-1' is limited to 2 operations in flight "
            "(quotas[0].in_flight)");
  EXPECT_EQ(c, nullptr);
  // Each identity has its own count.
  ASSERT_TRUE(table.admit_operation("token:batch-2", 10, c).ok());
  a->release();
  a->release();  // once only
  ASSERT_TRUE(table.admit_operation("token:batch-1", 10, a).ok());
  b.reset();  // released when dropped, too
  c.reset();

  stream_slot s1, s2;
  ASSERT_TRUE(table.open_stream("token:batch-1", s1).ok());
  EXPECT_EQ(table.open_stream("token:batch-1", s2).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  s1 = stream_slot();
  EXPECT_TRUE(table.open_stream("token:batch-1", s2).ok());

  const auto seen = table.snapshot();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].identity, "token:batch-1");
  EXPECT_EQ(seen[0].operations, 3u);
  EXPECT_EQ(seen[0].in_flight, 1u);
  EXPECT_EQ(seen[0].streams, 1u);
  EXPECT_EQ(seen[0].throttled.at("in_flight"), 1u);
  EXPECT_EQ(seen[0].throttled.at("streams"), 1u);
  EXPECT_EQ(seen[1].in_flight, 0u);
}

TEST(caller_table, a_rate_allows_its_burst_then_refuses_naming_the_quota) {
  const auto cfg = quota_config();
  caller_table table(cfg, false);  // quotas alone make it track callers
  ASSERT_TRUE(table.tracked());
  std::shared_ptr<operation_slot> slot;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(table.admit_operation("token:slow", 1, slot).ok());
  const auto refused = table.admit_operation("token:slow", 1, slot);
  EXPECT_EQ(refused.error_message(),
            "quota exceeded: 'token:slow' is limited to 1 operations/s "
            "(quotas[1].operations_per_second)");
  // Someone no quota names passes, counted.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(table.admit_operation("", 1, slot).ok());
  table.count_denied("", "allow.send");
  table.count_denied("", "allow.send");
  const auto seen = table.snapshot();
  EXPECT_EQ(seen[0].identity, "");
  EXPECT_EQ(seen[0].operations, 10u);
  EXPECT_EQ(seen[0].denied.at("allow.send"), 2u);
}

TEST(caller_table, untracked_it_passes_everything_and_keeps_nothing) {
  const config cfg;
  caller_table table(cfg, false);
  std::shared_ptr<operation_slot> slot;
  stream_slot stream;
  EXPECT_TRUE(table.admit_operation("x", 1, slot).ok());
  EXPECT_EQ(slot, nullptr);
  EXPECT_TRUE(table.open_stream("x", stream).ok());
  table.count_denied("x", "rules");
  EXPECT_TRUE(table.snapshot().empty());
}

}  // namespace
}  // namespace brokerside::sidecar
