// Sparse acks and the offsets a consumer group may commit, without a broker.
#include "protocol/kafka/offset_tracker.h"

#include <gtest/gtest.h>

namespace brokerside::protocol::kafka {
namespace {

const topic_partition p0{"t", 0}, p1{"t", 1}, p2{"t", 2}, other{"u", 0};

TEST(kafka_offset_tracker, only_the_contiguous_acked_prefix_is_committed) {
  offset_tracker t;
  for (std::int64_t o = 10; o < 15; ++o) t.delivered(p0, o);
  EXPECT_EQ(t.to_commit(p0), 10);  // nothing acked: where it began
  t.committed(p0, 10);
  EXPECT_EQ(t.to_commit(p0), std::nullopt);
  EXPECT_TRUE(t.acked(p0, 12));
  EXPECT_TRUE(t.acked(p0, 13));
  EXPECT_EQ(t.to_commit(p0), std::nullopt);  // 10 and 11 still out: a restart redelivers them
  EXPECT_TRUE(t.acked(p0, 10));
  EXPECT_EQ(t.to_commit(p0), 11);
  t.committed(p0, 11);
  EXPECT_TRUE(t.acked(p0, 11));
  EXPECT_EQ(t.to_commit(p0), 14);  // 14 is the only one out
  EXPECT_TRUE(t.acked(p0, 14));
  EXPECT_EQ(t.to_commit(p0), 15);  // all acked: one past the last
  EXPECT_EQ(t.outstanding(), 0u);
}

TEST(kafka_offset_tracker, partitions_are_apart_and_a_revoked_one_refuses_acks) {
  offset_tracker t;
  t.delivered(p0, 1);
  t.delivered(p1, 7);
  EXPECT_EQ(t.outstanding(), 2u);
  EXPECT_TRUE(t.acked(p1, 7));
  EXPECT_EQ(t.to_commit(p1), 8);
  EXPECT_EQ(t.to_commit(p0), 1);
  t.revoked(p0);
  EXPECT_FALSE(t.acked(p0, 1));     // its partition went to another member
  EXPECT_FALSE(t.acked(p1, 7));     // acked already
  EXPECT_FALSE(t.acked(p2, 0));     // never delivered
  EXPECT_FALSE(t.acked(other, 7));  // another topic's partition 0
  EXPECT_EQ(t.partitions(), (std::set<topic_partition>{p1}));
  EXPECT_EQ(t.to_commit(p0), std::nullopt);
}

}  // namespace
}  // namespace brokerside::protocol::kafka
