#include "pool/deadline_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace brokerside::pool {
namespace {

const time_point t0 = time_point{} + std::chrono::hours(1);

std::shared_ptr<deadline_entry> at(millis after) {
  auto e = std::make_shared<deadline_entry>();
  e->deadline = t0 + after;
  return e;
}

TEST(deadline_queue, pops_only_what_is_due_earliest_first) {
  deadline_queue q;
  auto late = at(millis(30)), early = at(millis(10)), middle = at(millis(20));
  q.push(late);
  q.push(early);
  q.push(middle);
  EXPECT_EQ(q.next(), t0 + millis(10));
  EXPECT_EQ(q.pop_due(t0 + millis(9)), nullptr);
  EXPECT_EQ(q.pop_due(t0 + millis(25)), early);
  EXPECT_EQ(q.pop_due(t0 + millis(25)), middle);
  EXPECT_EQ(q.pop_due(t0 + millis(25)), nullptr);
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(early->queued_at, deadline_entry::not_queued);
  EXPECT_EQ(q.pop_due(t0 + millis(30)), late);
  EXPECT_FALSE(q.next());
}

TEST(deadline_queue, erase_takes_out_anywhere_and_only_once) {
  deadline_queue q;
  std::vector<std::shared_ptr<deadline_entry>> entries;
  for (int i = 0; i < 7; ++i) {
    entries.push_back(at(millis(i)));
    q.push(entries.back());
  }
  EXPECT_TRUE(q.erase(*entries[0]));  // the earliest
  EXPECT_TRUE(q.erase(*entries[4]));  // one inside
  EXPECT_TRUE(q.erase(*entries[6]));  // the last one pushed
  EXPECT_FALSE(q.erase(*entries[4]));
  EXPECT_EQ(entries[0].use_count(), 1);  // the queue let go of it
  EXPECT_EQ(q.next(), t0 + millis(1));
  std::vector<std::shared_ptr<deadline_entry>> left;
  while (auto e = q.pop_due(t0 + millis(100))) left.push_back(e);
  EXPECT_EQ(left, (std::vector{entries[1], entries[2], entries[3], entries[5]}));
}

TEST(deadline_queue, an_entry_of_another_queue_is_not_erased) {
  deadline_queue a, b;
  auto in_a = at(millis(1)), in_b = at(millis(2));
  a.push(in_a);
  b.push(in_b);
  EXPECT_FALSE(a.erase(*in_b));  // same place (0), other queue
  EXPECT_EQ(a.size(), 1u);
}

TEST(deadline_queue, keeps_order_under_random_pushes_and_erases) {
  std::mt19937 rng(7);
  deadline_queue q;
  std::vector<std::shared_ptr<deadline_entry>> live;
  for (int step = 0; step < 5000; ++step) {
    if (live.empty() || rng() % 3 != 0) {
      live.push_back(at(millis(rng() % 1000)));
      q.push(live.back());
    } else {
      const auto i = rng() % live.size();
      ASSERT_TRUE(q.erase(*live[i]));
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
    }
    ASSERT_EQ(q.size(), live.size());
  }
  std::vector<time_point> popped;
  while (auto e = q.pop_due(t0 + millis(1000))) popped.push_back(e->deadline);
  EXPECT_EQ(popped.size(), live.size());
  EXPECT_TRUE(std::is_sorted(popped.begin(), popped.end()));
}

TEST(deadline_queue, take_all_empties_it) {
  deadline_queue q;
  auto a = at(millis(1)), b = at(millis(2));
  q.push(a);
  q.push(b);
  EXPECT_EQ(q.take_all().size(), 2u);
  EXPECT_EQ(q.size(), 0u);
  EXPECT_FALSE(q.erase(*a));
}

}  // namespace
}  // namespace brokerside::pool
