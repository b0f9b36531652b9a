// librdkafka's statistics report as Stats reads it: trimmed from a real
// report of librdkafka 2.0.2 (a consumer holding two partitions of one
// topic, one of them committed to its end).
#include "protocol/kafka/statistics.h"

#include <gtest/gtest.h>

namespace brokerside::protocol::kafka {
namespace {

constexpr std::string_view consumer_report = R"({
  "name": "brokerside#consumer-2", "type": "consumer", "msg_cnt": 0,
  "topics": { "bs-96f06f5194": { "topic": "bs-96f06f5194", "partitions": {
    "1": { "partition": 1, "fetch_state": "active", "app_offset": 5, "stored_offset": -1001,
           "committed_offset": 0, "hi_offset": 5, "consumer_lag": 5 },
    "10": { "partition": 10, "fetch_state": "active", "app_offset": -1001, "stored_offset": -1001,
           "committed_offset": -1001, "hi_offset": -1001, "consumer_lag": -1 },
    "0": { "partition": 0, "fetch_state": "active", "app_offset": 5, "stored_offset": -1001,
           "committed_offset": 5, "hi_offset": 5, "consumer_lag": 0 },
    "2": { "partition": 2, "fetch_state": "none", "app_offset": -1001,
           "committed_offset": -1001, "hi_offset": -1001, "consumer_lag": -1 },
    "-1": { "partition": -1, "fetch_state": "none", "app_offset": -1001,
           "committed_offset": -1001, "hi_offset": -1001, "consumer_lag": -1 } } } },
  "cgrp": { "state": "up", "join_state": "steady", "assignment_size": 3 } })";

TEST(kafka_statistics, a_consumer_lists_the_partitions_it_fetches_in_order_with_their_lag) {
  const auto s = parse_statistics(consumer_report);
  ASSERT_TRUE(s.valid);
  EXPECT_EQ(s.queued, 0u);
  ASSERT_EQ(s.partitions.size(), 3u);  // not 2 (not fetched) nor -1 (the producer's)
  const auto& p0 = s.partitions[0];
  EXPECT_EQ(p0.topic, "bs-96f06f5194");
  EXPECT_EQ(p0.partition, 0);
  EXPECT_EQ(p0.position, 5);
  EXPECT_EQ(p0.committed, 5);
  EXPECT_EQ(p0.high_watermark, 5);
  EXPECT_EQ(p0.lag, 0);
  EXPECT_EQ(s.partitions[1].partition, 1);
  EXPECT_EQ(s.partitions[1].committed, 0);
  EXPECT_EQ(s.partitions[1].lag, 5);
  // "10" sorts after "2" as a number; offsets librdkafka has not (-1001) read -1.
  const auto& p10 = s.partitions[2];
  EXPECT_EQ(p10.partition, 10);
  EXPECT_EQ(p10.position, -1);
  EXPECT_EQ(p10.committed, -1);
  EXPECT_EQ(p10.high_watermark, -1);
  EXPECT_EQ(p10.lag, -1);
}

TEST(kafka_statistics, a_producer_reports_its_queued_records_and_no_partitions) {
  const auto s = parse_statistics(R"({"name": "brokerside#producer-1", "type": "producer",
    "msg_cnt": 42, "topics": {"t": {"partitions": {"0": {"fetch_state": "none", "msgq_cnt": 40},
    "-1": {"fetch_state": "none", "msgq_cnt": 2}}}}})");
  ASSERT_TRUE(s.valid);
  EXPECT_EQ(s.queued, 42u);
  EXPECT_TRUE(s.partitions.empty());
}

TEST(kafka_statistics, what_is_not_a_report_is_not_valid_and_sets_nothing) {
  for (const std::string_view bad : {"", "[1, 2]", "{\"msg_cnt\": ", "null", "\"text\""}) {
    const auto s = parse_statistics(bad);
    EXPECT_FALSE(s.valid) << bad;
    EXPECT_EQ(s.queued, 0u) << bad;
    EXPECT_TRUE(s.partitions.empty()) << bad;
  }
  // Fields of the wrong kind are skipped, not trusted.
  const auto odd = parse_statistics(
      R"({"msg_cnt": "many", "topics": {"t": {"partitions": {"0": {"fetch_state": "active",
      "app_offset": "x", "consumer_lag": 3.5}, "1": 7}}, "u": []}})");
  ASSERT_TRUE(odd.valid);
  EXPECT_EQ(odd.queued, 0u);
  ASSERT_EQ(odd.partitions.size(), 1u);
  EXPECT_EQ(odd.partitions[0].position, -1);
  EXPECT_EQ(odd.partitions[0].lag, -1);
}

}  // namespace
}  // namespace brokerside::protocol::kafka
