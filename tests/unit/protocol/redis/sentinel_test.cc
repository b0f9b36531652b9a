#include "protocol/redis/sentinel.h"

#include <gtest/gtest.h>

namespace brokerside::protocol::redis {
namespace {

value text(std::string s) { return {resp_type::bulk_string, std::move(s)}; }
value list(std::vector<value> elements) {
  value v{resp_type::array};
  v.elements = std::move(elements);
  return v;
}

TEST(redis_sentinel, the_master_address_or_nothing) {
  const auto a = parse_master_address(list({text("127.0.0.1"), text("6380")}));
  ASSERT_TRUE(a);
  EXPECT_EQ(a->text(), "127.0.0.1:6380");
  EXPECT_FALSE(parse_master_address(value{}));  // null: not monitored
  EXPECT_FALSE(parse_master_address(list({text("h")})));
  EXPECT_FALSE(parse_master_address(list({text("h"), text("70000")})));
  EXPECT_FALSE(parse_master_address(list({text(""), text("6379")})));
}

TEST(redis_sentinel, role_says_primary) {
  EXPECT_TRUE(says_primary(list({text("master"), {resp_type::integer, {}, 42}, list({})})));
  EXPECT_FALSE(
      says_primary(list({text("slave"), text("127.0.0.1"), {resp_type::integer, {}, 6379}})));
  EXPECT_FALSE(says_primary(value{resp_type::error, "ERR"}));
}

TEST(redis_sentinel, switch_master_messages) {
  const auto s = parse_switch_master("mymaster 127.0.0.1 6379 127.0.0.1 6380");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->name, "mymaster");
  EXPECT_EQ(s->from.text(), "127.0.0.1:6379");
  EXPECT_EQ(s->to.text(), "127.0.0.1:6380");
  EXPECT_FALSE(parse_switch_master("mymaster 127.0.0.1 6379 127.0.0.1"));
  EXPECT_FALSE(parse_switch_master("mymaster 127.0.0.1 6379 127.0.0.1 x"));
  EXPECT_FALSE(parse_switch_master("mymaster 127.0.0.1 6379 127.0.0.1 6380 extra"));
  EXPECT_FALSE(parse_switch_master(""));
}

}  // namespace
}  // namespace brokerside::protocol::redis
