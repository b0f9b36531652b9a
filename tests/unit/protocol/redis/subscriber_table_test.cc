// The shared subscriber connections' bookkeeping, without sockets.
#include "protocol/redis/subscriber_table.h"

#include <gtest/gtest.h>

namespace brokerside::protocol::redis {
namespace {

using kind = subscriber_table::kind;
using command = subscriber_table::command;
using names = std::vector<std::string>;

TEST(subscriber_table, the_first_listener_subscribes_the_last_unsubscribes_and_both_get_messages) {
  subscriber_table t(4);
  bool ready = true;
  EXPECT_EQ(t.add(1, kind::channel, names{"news"}, ready),
            (std::vector<command>{{0, kind::channel, true, {"news"}}}));
  EXPECT_FALSE(ready);
  // A second listener of the same channel: nothing to send, not ready yet.
  EXPECT_TRUE(t.add(2, kind::channel, names{"news"}, ready).empty());
  EXPECT_FALSE(ready);
  EXPECT_EQ(t.confirmed(0, kind::channel, "news"), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(*t.listeners(kind::channel, "news"), (std::vector<std::uint64_t>{1, 2}));
  // A third, once confirmed: ready at once.
  EXPECT_TRUE(t.add(3, kind::channel, names{"news"}, ready).empty());
  EXPECT_TRUE(ready);
  EXPECT_TRUE(t.remove(1).empty());
  EXPECT_TRUE(t.remove(3).empty());
  EXPECT_EQ(*t.listeners(kind::channel, "news"), (std::vector<std::uint64_t>{2}));
  EXPECT_EQ(t.remove(2), (std::vector<command>{{0, kind::channel, false, {"news"}}}));
  EXPECT_EQ(t.listeners(kind::channel, "news"), nullptr);
  EXPECT_TRUE(t.remove(2).empty());  // unknown now
}

TEST(subscriber_table, sources_spread_over_at_most_max_links_least_loaded_first) {
  subscriber_table t(2);
  bool ready = false;
  EXPECT_EQ(t.add(1, kind::channel, names{"a", "b", "c"}, ready),
            (std::vector<command>{{0, kind::channel, true, {"a", "c"}},
                                  {1, kind::channel, true, {"b"}}}));
  EXPECT_EQ(t.load(), (std::vector<std::size_t>{2, 1}));
  EXPECT_EQ(t.add(2, kind::pattern, names{"p.*"}, ready),
            (std::vector<command>{{1, kind::pattern, true, {"p.*"}}}));
  // Patterns and channels of one name are different sources.
  EXPECT_EQ(t.add(3, kind::channel, names{"p.*", "p.*"}, ready).size(), 1u);
  EXPECT_EQ(t.load().size(), 2u);
  for (const auto& [link, name] : {std::pair{0, "a"}, {1, "b"}, {0, "c"}}) {
    EXPECT_TRUE(t.confirmed(link, kind::channel, name).empty() || std::string(name) == "c");
  }
  EXPECT_TRUE(t.confirmed(1, kind::channel, "a").empty());  // a is not link 1's
}

TEST(subscriber_table, a_lost_link_subscribes_everything_again_when_restored) {
  subscriber_table t(1);
  bool ready = false;
  t.add(1, kind::channel, names{"a", "b"}, ready);
  t.add(2, kind::pattern, names{"x.*"}, ready);
  t.confirmed(0, kind::channel, "a");
  EXPECT_EQ(t.confirmed(0, kind::channel, "b"), (std::vector<std::uint64_t>{1}));
  t.lost(0);
  EXPECT_EQ(t.restored(0), (std::vector<command>{{0, kind::channel, true, {"a", "b"}},
                                                 {0, kind::pattern, true, {"x.*"}}}));
  // Listener 1 was ready and stays so; 2 becomes ready with its pattern.
  EXPECT_TRUE(t.confirmed(0, kind::channel, "a").empty());
  EXPECT_EQ(t.confirmed(0, kind::pattern, "x.*"), (std::vector<std::uint64_t>{2}));
}

TEST(subscriber_table, a_confirmation_owed_to_a_removed_source_is_not_taken_for_its_successor) {
  subscriber_table t(1);
  bool ready = false;
  t.add(1, kind::channel, names{"a"}, ready);
  t.remove(1);  // SUBSCRIBE a, UNSUBSCRIBE a written, neither answered
  t.add(2, kind::channel, names{"a"}, ready);               // SUBSCRIBE a again
  EXPECT_TRUE(t.confirmed(0, kind::channel, "a").empty());  // the first one's
  EXPECT_EQ(t.confirmed(0, kind::channel, "a"), (std::vector<std::uint64_t>{2}));
}

TEST(subscriber_table, a_shard_channel_the_server_drops_is_handed_back_once) {
  subscriber_table t(2);
  bool ready = false;
  t.add(1, kind::shard, names{"orders"}, ready);
  t.add(2, kind::shard, names{"orders"}, ready);
  // Not confirmed yet: an unsubscribe then answers an earlier one of ours.
  EXPECT_TRUE(t.dropped(0, kind::shard, "orders").empty());
  t.confirmed(0, kind::shard, "orders");
  EXPECT_TRUE(t.dropped(1, kind::shard, "orders").empty());    // another link's
  EXPECT_TRUE(t.dropped(0, kind::channel, "orders").empty());  // another kind
  // The slot moved: both listeners, once; the source is gone.
  EXPECT_EQ(t.dropped(0, kind::shard, "orders"), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_TRUE(t.dropped(0, kind::shard, "orders").empty());
  EXPECT_EQ(t.listeners(kind::shard, "orders"), nullptr);
  EXPECT_EQ(t.load(), (std::vector<std::size_t>{0}));
  // Leaving afterwards writes nothing for it (the server forgot it already).
  EXPECT_TRUE(t.remove(1).empty());
  EXPECT_TRUE(t.remove(2).empty());
  // Our own SUNSUBSCRIBE's answer, its source removed: not a drop.
  t.add(3, kind::shard, names{"x"}, ready);
  t.confirmed(0, kind::shard, "x");
  t.remove(3);
  EXPECT_TRUE(t.dropped(0, kind::shard, "x").empty());
}

TEST(subscriber_table, push_frame_kinds_and_commands) {
  kind k;
  EXPECT_TRUE(is_message_kind("pmessage", k) && k == kind::pattern);
  EXPECT_TRUE(is_message_kind("smessage", k) && k == kind::shard);
  EXPECT_FALSE(is_message_kind("subscribe", k));
  EXPECT_TRUE(is_confirmation_kind("ssubscribe", k) && k == kind::shard);
  EXPECT_FALSE(is_confirmation_kind("unsubscribe", k));
  EXPECT_TRUE(is_unsubscription_kind("sunsubscribe", k) && k == kind::shard);
  EXPECT_TRUE(is_unsubscription_kind("punsubscribe", k) && k == kind::pattern);
  EXPECT_FALSE(is_unsubscription_kind("ssubscribe", k));
  EXPECT_STREQ(subscribe_command(kind::pattern, false), "PUNSUBSCRIBE");
  EXPECT_STREQ(subscribe_command(kind::shard, true), "SSUBSCRIBE");
}

}  // namespace
}  // namespace brokerside::protocol::redis
