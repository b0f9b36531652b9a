// The FIFO that holds no storage while empty.
#include "protocol/lazy_deque.h"

#include <gtest/gtest.h>

#include <string>

namespace brokerside::protocol {
namespace {

TEST(lazy_deque, first_in_first_out_and_empty_again) {
  lazy_deque<std::string> q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.size(), 0u);
  q.push_back("a");
  q.push_back("b");
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.front(), "a");
  q.pop_front();
  EXPECT_EQ(q.front(), "b");
  q.pop_front();
  EXPECT_TRUE(q.empty());
  q.push_back("c");  // filled again after emptying
  EXPECT_EQ(q.front(), "c");
}

TEST(lazy_deque, a_push_never_moves_the_front) {
  lazy_deque<std::string> q;
  q.push_back("being written");
  const std::string* front = &q.front();
  for (int i = 0; i < 10'000; ++i) q.push_back(std::to_string(i));
  EXPECT_EQ(front, &q.front());
  EXPECT_EQ(*front, "being written");
}

TEST(lazy_deque, keep_front_clear_and_take) {
  lazy_deque<int> q;
  q.keep_front();  // nothing to keep
  EXPECT_TRUE(q.empty());
  for (int i = 0; i < 5; ++i) q.push_back(i);
  q.keep_front();
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.front(), 0);
  for (int i = 1; i < 4; ++i) q.push_back(i);
  const auto all = q.take();
  EXPECT_EQ(all, (std::deque<int>{0, 1, 2, 3}));
  EXPECT_TRUE(q.empty());
  EXPECT_TRUE(q.take().empty());
  q.push_back(9);
  q.clear();
  EXPECT_TRUE(q.empty());
}

}  // namespace
}  // namespace brokerside::protocol
