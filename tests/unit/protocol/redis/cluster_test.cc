#include "protocol/redis/cluster.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol/redis/command_keys.h"

namespace brokerside::protocol::redis {
namespace {

value text(std::string s) { return {resp_type::bulk_string, std::move(s)}; }
value number(std::int64_t n) { return {resp_type::integer, {}, n}; }
value list(std::vector<value> elements, resp_type type = resp_type::array) {
  value v{type};
  v.elements = std::move(elements);
  return v;
}

TEST(redis_cluster, crc16_is_xmodem) {
  EXPECT_EQ(crc16("123456789"), 0x31c3);  // the algorithm's check value
  EXPECT_EQ(crc16(""), 0);
}

TEST(redis_cluster, key_slots_as_redis_computes_them) {
  // CLUSTER KEYSLOT's answers (Redis documentation and a 7.0 cluster).
  EXPECT_EQ(key_slot("somekey"), 11058);
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("hello"), 866);
  EXPECT_EQ(key_slot("foo{hash_tag}"), 2515);
  EXPECT_EQ(key_slot("bar{hash_tag}"), 2515);
}

TEST(redis_cluster, only_the_first_non_empty_hash_tag_counts) {
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  EXPECT_EQ(key_slot("foo{bar}{zap}"), key_slot("bar"));
  EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));
  // Nothing between the braces: the whole key.
  EXPECT_EQ(key_slot("foo{}{bar}"), crc16("foo{}{bar}") & 16383);
  EXPECT_EQ(key_slot("foo{bar"), crc16("foo{bar") & 16383);
}

TEST(redis_cluster, redirections_parse_and_others_do_not) {
  auto moved = parse_redirection("MOVED 3999 127.0.0.1:6381");
  ASSERT_TRUE(moved);
  EXPECT_FALSE(moved->ask);
  EXPECT_EQ(moved->slot, 3999);
  EXPECT_EQ(moved->address, "127.0.0.1:6381");
  auto ask = parse_redirection("ASK 16383 ::1:7002");
  ASSERT_TRUE(ask);
  EXPECT_TRUE(ask->ask);
  EXPECT_EQ(ask->slot, 16383);
  EXPECT_EQ(ask->address, "::1:7002");
  for (const auto* not_one : {"ERR unknown command", "MOVED", "MOVED 3999", "MOVED x 1.2.3.4:1",
                              "MOVED 16384 127.0.0.1:1", "MOVED 1 127.0.0.1", "MOVED 1 127.0.0.1:",
                              "TRYAGAIN Multiple keys request during rehashing of slot"}) {
    EXPECT_FALSE(parse_redirection(not_one)) << not_one;
  }
}

value shard_node(std::string ip, std::int64_t port, std::string role, std::string health,
                 resp_type type) {
  return list({text("id"), text("0123"), text("port"), number(port), text("ip"), text(ip),
               text("endpoint"), text(ip), text("role"), text(role), text("replication-offset"),
               number(1), text("health"), text(health)},
              type);
}

value shards_reply(resp_type type) {
  return list({
      list({text("slots"), list({number(0), number(5460)}), text("nodes"),
            list({shard_node("127.0.0.1", 7000, "master", "online", type),
                  shard_node("127.0.0.1", 7003, "replica", "online", type)})},
           type),
      list({text("slots"), list({number(5461), number(10922), number(16000), number(16383)}),
            text("nodes"),
            list({shard_node("127.0.0.1", 7001, "master", "online", type),
                  shard_node("127.0.0.1", 7004, "replica", "failed", type)})},
           type),
      list({text("slots"), list({number(10923), number(15999)}), text("nodes"),
            list({shard_node("127.0.0.1", 7002, "master", "online", type)})},
           type),
  });
}

TEST(redis_cluster, cluster_shards_in_resp2_and_resp3) {
  for (const auto type : {resp_type::array, resp_type::map}) {
    const auto shards = parse_cluster_shards(shards_reply(type), false);
    ASSERT_TRUE(shards);
    ASSERT_EQ(shards->size(), 3u);
    EXPECT_EQ((*shards)[0].master, "127.0.0.1:7000");
    EXPECT_EQ((*shards)[0].replicas, std::vector<std::string>{"127.0.0.1:7003"});
    EXPECT_EQ((*shards)[1].slots.size(), 2u);
    EXPECT_EQ((*shards)[1].slots[1], (std::pair<std::uint16_t, std::uint16_t>{16000, 16383}));
    EXPECT_TRUE((*shards)[1].replicas.empty());  // its replica failed
    EXPECT_EQ((*shards)[2].master, "127.0.0.1:7002");
  }
  EXPECT_FALSE(parse_cluster_shards(text("nope"), false));
  EXPECT_FALSE(parse_cluster_shards(
      list({list({text("slots"), list({number(5), number(2)}), text("nodes"), list({})})}), false));
}

TEST(redis_cluster, cluster_slots_gathers_a_masters_ranges) {
  auto node = [](std::int64_t port) { return list({text("127.0.0.1"), number(port), text("id")}); };
  const auto reply = list({list({number(0), number(99), node(7000), node(7003)}),
                           list({number(100), number(16383), node(7001)}),
                           list({number(200), number(300), node(7000)})});
  const auto shards = parse_cluster_slots(reply);
  ASSERT_TRUE(shards);
  ASSERT_EQ(shards->size(), 2u);
  EXPECT_EQ((*shards)[0].slots.size(), 2u);
  EXPECT_EQ((*shards)[0].replicas, std::vector<std::string>{"127.0.0.1:7003"});
  EXPECT_FALSE(parse_cluster_slots(list({list({number(0), number(99)})})));
}

TEST(redis_cluster, slot_table_follows_the_map_and_moves) {
  slot_table t;
  EXPECT_FALSE(t.node(0));
  t.assign(*parse_cluster_shards(shards_reply(resp_type::array), false));
  EXPECT_EQ(t.served(), 16384u);
  EXPECT_EQ(*t.node(0), "127.0.0.1:7000");
  EXPECT_EQ(*t.node(16001), "127.0.0.1:7001");
  EXPECT_EQ(*t.node(12000), "127.0.0.1:7002");
  t.move(5460, "127.0.0.1:7001");
  EXPECT_EQ(*t.node(5460), "127.0.0.1:7001");
  const auto ranges = t.ranges();
  ASSERT_EQ(ranges.size(), 3u);
  EXPECT_EQ(ranges[0].first, "127.0.0.1:7000");
  EXPECT_EQ(ranges[0].second, (std::vector<std::pair<std::uint16_t, std::uint16_t>>{{0, 5459}}));
  EXPECT_EQ(ranges[1].second,
            (std::vector<std::pair<std::uint16_t, std::uint16_t>>{{5460, 10922}, {16000, 16383}}));
}

command_slot of(std::vector<std::string_view> args) { return slot_of(args); }

TEST(redis_cluster, whole_keyspace_commands_reach_every_master) {
  using r = cluster_reach;
  auto reach = [](std::vector<std::string_view> args) { return reach_of(args); };
  EXPECT_EQ(reach({"dbsize"}), r::sum);
  EXPECT_EQ(reach({"KEYS", "user:*"}), r::concatenate);
  EXPECT_EQ(reach({"Scan", "0", "MATCH", "x*"}), r::scan);
  EXPECT_EQ(reach({"FLUSHALL", "ASYNC"}), r::same);
  EXPECT_EQ(reach({"flushdb"}), r::same);
  EXPECT_EQ(reach({"SCRIPT", "load", "return 1"}), r::same);
  EXPECT_EQ(reach({"SCRIPT", "FLUSH"}), r::same);
  EXPECT_EQ(reach({"script", "exists", "abc"}), r::all_true);
  EXPECT_EQ(reach({"FUNCTION", "LOAD", "#!lua name=x"}), r::same);
  EXPECT_EQ(reach({"FUNCTION", "DELETE", "x"}), r::same);
  // One node's business, or any node's.
  EXPECT_EQ(reach({"SCRIPT", "KILL"}), r::one_node);
  EXPECT_EQ(reach({"FUNCTION", "LIST"}), r::one_node);
  EXPECT_EQ(reach({"PING"}), r::one_node);
  EXPECT_EQ(reach({"GET", "k"}), r::one_node);
  EXPECT_EQ(reach({}), r::one_node);
}

TEST(redis_cluster, scan_cursors_name_the_master_in_their_low_bits) {
  const auto start = parse_scan_cursor("0");
  ASSERT_TRUE(start);
  EXPECT_EQ(start->node, 0u);
  EXPECT_EQ(start->node_cursor, 0u);
  const auto c = parse_scan_cursor(std::to_string((1234ull << 10) | 2));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->node, 2u);
  EXPECT_EQ(c->node_cursor, 1234u);
  EXPECT_FALSE(parse_scan_cursor(""));
  EXPECT_FALSE(parse_scan_cursor("-1"));
  EXPECT_FALSE(parse_scan_cursor("12x"));
  EXPECT_FALSE(parse_scan_cursor("18446744073709551616"));  // 2^64

  // A master's cursor goes on with it; its 0 moves to the next master,
  // and the last one's 0 ends the scan.
  EXPECT_EQ(next_scan_cursor("1234", 2, 3), (1234ull << 10) | 2);
  EXPECT_EQ(next_scan_cursor("0", 0, 3), 1u);
  EXPECT_EQ(next_scan_cursor("0", 1, 3), 2u);
  EXPECT_EQ(next_scan_cursor("0", 2, 3), 0u);
  EXPECT_EQ(next_scan_cursor("0", 0, 1), 0u);
  // Round trip: what is given back names the same master and cursor.
  const auto back = parse_scan_cursor(std::to_string(*next_scan_cursor("98765", 7, 9)));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->node, 7u);
  EXPECT_EQ(back->node_cursor, 98765u);
  // A cursor that does not fit beside the master's index, or not a number.
  EXPECT_FALSE(next_scan_cursor(std::to_string(1ull << 54), 0, 3));
  EXPECT_TRUE(next_scan_cursor(std::to_string((1ull << 54) - 1), 0, 3));
  EXPECT_FALSE(next_scan_cursor("abc", 0, 3));
}

TEST(redis_command_keys, fixed_positions_from_the_table) {
  auto get = of({"GET", "foo"});
  EXPECT_EQ(get.what, command_slot::kind::one);
  EXPECT_EQ(get.slot, 12182);
  EXPECT_EQ(of({"mset", "{a}1", "v", "{a}2", "v"}).what, command_slot::kind::one);
  auto crossing = of({"MSET", "foo", "v", "hello", "v"});
  EXPECT_EQ(crossing.what, command_slot::kind::crossing);
  EXPECT_EQ(crossing.key, "foo");
  EXPECT_EQ(crossing.other, "hello");
  EXPECT_EQ(crossing.other_slot, 866);
  // Values are not keys: MSET's step of 2.
  EXPECT_EQ(of({"MSET", "foo", "hello"}).what, command_slot::kind::one);
  EXPECT_EQ(of({"DEL", "foo", "hello"}).what, command_slot::kind::crossing);
  EXPECT_EQ(of({"SPUBLISH", "hello", "m"}).slot, 866);
}

TEST(redis_command_keys, keyless_subcommands_and_unknown) {
  EXPECT_EQ(of({"PING"}).what, command_slot::kind::keyless);
  EXPECT_EQ(of({"PUBLISH", "channel", "m"}).what, command_slot::kind::keyless);
  EXPECT_EQ(of({"config", "get", "maxmemory"}).what, command_slot::kind::keyless);
  auto usage = of({"MEMORY", "USAGE", "hello"});
  EXPECT_EQ(usage.what, command_slot::kind::one);
  EXPECT_EQ(usage.slot, 866);
  EXPECT_EQ(of({"OBJECT", "encoding", "foo"}).slot, 12182);
  EXPECT_EQ(of({"NO.SUCH.COMMAND", "foo"}).what, command_slot::kind::unknown);
  EXPECT_EQ(of({}).what, command_slot::kind::unknown);
}

TEST(redis_command_keys, keys_the_arguments_place) {
  EXPECT_EQ(of({"EVAL", "return 1", "2", "{x}a", "{x}b", "arg"}).what, command_slot::kind::one);
  EXPECT_EQ(of({"EVAL", "return 1", "2", "foo", "hello"}).what, command_slot::kind::crossing);
  // numkeys 1: "hello" is an argument, not a key.
  EXPECT_EQ(of({"evalsha", "abc", "1", "foo", "hello"}).what, command_slot::kind::one);
  EXPECT_EQ(of({"EVAL", "return 1", "0"}).what, command_slot::kind::keyless);
  EXPECT_EQ(of({"ZUNIONSTORE", "foo", "2", "{foo}a", "hello"}).what, command_slot::kind::crossing);
  EXPECT_EQ(of({"ZUNIONSTORE", "foo", "2", "{foo}a", "{foo}b"}).what, command_slot::kind::one);
  EXPECT_EQ(of({"LMPOP", "2", "foo", "{foo}x", "LEFT"}).what, command_slot::kind::one);
  EXPECT_EQ(of({"XREAD", "COUNT", "2", "STREAMS", "foo", "hello", "0", "0"}).what,
            command_slot::kind::crossing);
  // Stream ids are not keys.
  EXPECT_EQ(of({"XREAD", "STREAMS", "foo", "hello"}).slot, 12182);
  EXPECT_EQ(of({"SORT", "foo", "STORE", "hello"}).what, command_slot::kind::crossing);
  EXPECT_EQ(of({"GEORADIUS", "foo", "0", "0", "1", "km", "STOREDIST", "{foo}d"}).what,
            command_slot::kind::one);
  EXPECT_EQ(of({"MIGRATE", "h", "1", "", "0", "5", "KEYS", "foo", "hello"}).what,
            command_slot::kind::crossing);
}

}  // namespace
}  // namespace brokerside::protocol::redis
