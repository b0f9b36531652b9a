#include "pool/failover.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace brokerside::pool {
namespace {

using order = std::vector<std::size_t>;

TEST(failover, round_robin_sticks_to_the_first_until_it_fails) {
  failover f(3, failover_strategy::round_robin);
  EXPECT_EQ(f.current(), 0u);
  EXPECT_EQ(f.current(), 0u);
  f.failed(0);
  EXPECT_EQ(f.current(), 1u);
  EXPECT_EQ(f.order(), (order{1, 2, 0}));
}

TEST(failover, a_failed_url_is_tried_again_only_after_the_others) {
  failover f(3, failover_strategy::round_robin);
  f.failed(0);
  f.failed(1);
  EXPECT_EQ(f.current(), 2u);
  f.failed(2);
  EXPECT_EQ(f.current(), 0u);
  // A failure of a URL not in front (a connection opened earlier) also
  // sends it to the back.
  f.failed(1);
  EXPECT_EQ(f.order(), (order{0, 2, 1}));
}

TEST(failover, single_url_stays) {
  failover f(1, failover_strategy::round_robin);
  f.failed(0);
  EXPECT_EQ(f.current(), 0u);
}

TEST(failover, shuffle_permutes_with_the_draws) {
  failover f(4, failover_strategy::shuffle, {0.1, 0.9, 0.0, 0.5});
  auto o = f.order();
  EXPECT_NE(o, (order{0, 1, 2, 3}));
  std::sort(o.begin(), o.end());
  EXPECT_EQ(o, (order{0, 1, 2, 3}));
  const auto first = f.current();
  f.failed(first);
  EXPECT_EQ(f.order().back(), first);
}

}  // namespace
}  // namespace brokerside::pool
