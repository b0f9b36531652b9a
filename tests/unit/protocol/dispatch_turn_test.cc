// protocol::dispatch_turn: work deferred to the end of the outermost turn,
// and posts to a strand kept for the turn's end and sent as one handler.
#include "protocol/dispatch_turn.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <string>

namespace brokerside::protocol {
namespace {

TEST(dispatch_turn, outside_a_turn_nothing_is_deferred) {
  EXPECT_FALSE(dispatch_turn::open());
  bool ran = false;
  EXPECT_FALSE(dispatch_turn::defer([&] { ran = true; }));
  EXPECT_FALSE(ran);  // the caller does it now
}

TEST(dispatch_turn, deferred_work_runs_once_at_the_outermost_end_in_order) {
  std::string order;
  {
    dispatch_turn outer;
    EXPECT_TRUE(dispatch_turn::open());
    EXPECT_TRUE(dispatch_turn::defer([&] { order += 'a'; }));
    {
      dispatch_turn inner;
      EXPECT_TRUE(dispatch_turn::defer([&] { order += 'b'; }));
    }
    EXPECT_EQ(order, "");  // an inner turn's end runs nothing
    order += '-';
  }
  EXPECT_EQ(order, "-ab");
  EXPECT_FALSE(dispatch_turn::open());
}

TEST(dispatch_turn, work_that_defers_more_while_it_runs_is_run_in_the_same_end) {
  std::string order;
  {
    dispatch_turn turn;
    dispatch_turn::defer([&] {
      order += 'a';
      EXPECT_TRUE(dispatch_turn::open());
      dispatch_turn::defer([&] { order += 'c'; });
    });
    dispatch_turn::defer([&] { order += 'b'; });
  }
  EXPECT_EQ(order, "abc");
  // Nothing is left for the next turn.
  { dispatch_turn next; }
  EXPECT_EQ(order, "abc");
}

TEST(dispatch_turn, posts_in_a_turn_go_to_each_strand_as_one_handler_after_the_turn) {
  boost::asio::io_context io;
  io_strand one(io.get_executor()), two(io.get_executor());
  std::string order;
  std::vector<bool> inside;  // whether each ran inside a turn of its own
  {
    dispatch_turn turn;
    for (char c : std::string("abc")) {
      dispatch_turn::post(one, [&, c] {
        order += c;
        inside.push_back(dispatch_turn::open());
      });
    }
    dispatch_turn::post(two, [&] { order += 'x'; });
    dispatch_turn::post(one, [&] { order += 'd'; });
    EXPECT_TRUE(order.empty());
  }
  // Kept until the turn ended; then one handler runs all of `one`'s.
  EXPECT_EQ(io.poll_one(), 1u);
  EXPECT_EQ(order, "abcd");
  EXPECT_EQ(inside, (std::vector<bool>{true, true, true}));
  io.poll();
  EXPECT_EQ(order, "abcdx");
}

TEST(dispatch_turn, outside_a_turn_a_post_is_an_ordinary_post) {
  boost::asio::io_context io;
  io_strand strand(io.get_executor());
  bool inside = true;
  dispatch_turn::post(strand, [&] { inside = dispatch_turn::open(); });
  EXPECT_EQ(io.poll(), 1u);
  EXPECT_FALSE(inside);
}

}  // namespace
}  // namespace brokerside::protocol
