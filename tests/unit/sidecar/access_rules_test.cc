// Rules' patterns and command lists, without a server.
#include "sidecar/access_rules.h"

#include <gtest/gtest.h>

#include "protocol/redis/command_classes.h"

namespace brokerside::sidecar {
namespace {

TEST(access_rules, a_glob_star_stands_for_any_run_and_nothing_else_is_special) {
  EXPECT_TRUE(glob_matches("orders", "orders"));
  EXPECT_FALSE(glob_matches("orders", "orders2"));
  EXPECT_TRUE(glob_matches("orders.*", "orders.eu"));
  EXPECT_TRUE(glob_matches("orders.*", "orders."));
  EXPECT_FALSE(glob_matches("orders.*", "orders"));
  EXPECT_TRUE(glob_matches("*", ""));
  EXPECT_TRUE(
      glob_matches("spiffe://example.org/ns/*/sa/web", "spiffe://example.org/ns/a/b/sa/web"));
  EXPECT_FALSE(glob_matches("spiffe://example.org/ns/*/sa/web", "spiffe://example.org/ns/a/sa/db"));
  EXPECT_TRUE(glob_matches("*.audit.*", "eu.audit.log"));
  EXPECT_TRUE(glob_matches("a*b*c", "aXbYbZc"));
  EXPECT_FALSE(glob_matches("a*b*c", "aXbYbZ"));
  // '?' and classes are themselves: a subscription "orders.?" does not slip
  // past a rule for orders.x.
  EXPECT_FALSE(glob_matches("orders.?", "orders.x"));
  EXPECT_TRUE(glob_matches("orders.?", "orders.?"));
  EXPECT_FALSE(glob_matches("", "x"));
  // Many stars against a long text: no exponential backtracking.
  EXPECT_FALSE(glob_matches("*a*a*a*a*a*a*a*a*b", std::string(4000, 'a')));
}

std::vector<command_rule> parse(std::initializer_list<const char*> texts) {
  std::vector<command_rule> out;
  for (const auto* text : texts) {
    command_rule r;
    EXPECT_EQ(parse_command_rule(text, protocol::redis::category_names(), r), "") << text;
    out.push_back(r);
  }
  return out;
}

bool redis_allows(const std::vector<command_rule>& rules, std::string_view name,
                  std::string_view sub = {}) {
  return command_allowed(rules, name, sub, protocol::redis::command_categories(name, sub));
}

TEST(access_rules, commands_follow_redis_acl_order_the_last_match_decides) {
  const auto rules = parse({"+@read", "+@write", "-@dangerous", "+config|get", "-del"});
  EXPECT_TRUE(redis_allows(rules, "GET"));
  EXPECT_TRUE(redis_allows(rules, "set"));
  EXPECT_FALSE(redis_allows(rules, "FLUSHALL"));  // @write and @dangerous: the later wins
  EXPECT_FALSE(redis_allows(rules, "KEYS"));      // @read and @dangerous
  EXPECT_FALSE(redis_allows(rules, "DEL"));
  EXPECT_TRUE(redis_allows(rules, "CONFIG", "get"));
  EXPECT_FALSE(redis_allows(rules, "CONFIG", "SET"));
  EXPECT_FALSE(redis_allows(rules, "PING"));        // @fast @connection: not listed
  EXPECT_FALSE(redis_allows(rules, "MODULE.CMD"));  // unknown: only names and @all reach it
  EXPECT_TRUE(redis_allows(parse({"+@all", "-@admin"}), "MODULE.CMD"));
  EXPECT_FALSE(redis_allows(parse({"+@all", "-@admin"}), "CONFIG", "GET"));
  EXPECT_FALSE(redis_allows({}, "GET"));
}

TEST(access_rules, a_bad_command_rule_says_why) {
  command_rule r;
  const auto names = protocol::redis::category_names();
  EXPECT_EQ(parse_command_rule("get", names, r),
            "'get': expected +NAME or -NAME (a command, COMMAND|SUBCOMMAND, @all or @CLASS)");
  EXPECT_EQ(parse_command_rule("+@nope", names, r).substr(0, 34),
            "'+@nope': no such class (@all, @ke");
  EXPECT_EQ(parse_command_rule("+@read", {}, r), "'+@read': this adapter has no command classes");
  EXPECT_EQ(parse_command_rule("+config|", names, r),
            "'+config|': expected a command name or COMMAND|SUBCOMMAND");
  EXPECT_EQ(parse_command_rule("+queue.delete", {}, r), "");
  EXPECT_TRUE(command_allowed(std::vector{r}, "QUEUE.DELETE", "q", std::nullopt));
}

TEST(access_rules, the_first_rule_naming_the_caller_applies) {
  std::vector<access_rule> rules(2);
  rules[0].callers = {"token:web", "token:api*"};
  rules[1].callers = {"*"};
  EXPECT_EQ(rule_for(rules, "token:api-2"), &rules[0]);
  EXPECT_EQ(rule_for(rules, "token:ops"), &rules[1]);
  EXPECT_EQ(rule_for(rules, ""), &rules[1]);
  rules.pop_back();
  EXPECT_EQ(rule_for(rules, "token:ops"), nullptr);
}

TEST(redis_command_classes, categories_come_from_redis_own_table) {
  using protocol::redis::category_names;
  using protocol::redis::command_categories;
  auto has = [](std::optional<std::uint64_t> mask, std::string_view category) {
    const auto names = category_names();
    const auto it = std::find(names.begin(), names.end(), category);
    return mask && it != names.end() && (*mask >> (it - names.begin()) & 1) != 0;
  };
  EXPECT_TRUE(has(command_categories("flushall", ""), "dangerous"));
  EXPECT_TRUE(has(command_categories("KEYS", ""), "dangerous"));
  EXPECT_TRUE(has(command_categories("get", ""), "read"));
  EXPECT_FALSE(has(command_categories("get", ""), "write"));
  EXPECT_TRUE(has(command_categories("Config", "Get"), "admin"));
  EXPECT_FALSE(has(command_categories("config", ""), "admin"));  // the container alone: @slow
  EXPECT_TRUE(has(command_categories("config", "no-such-sub"), "slow"));
  EXPECT_TRUE(has(command_categories("blpop", ""), "blocking"));
  EXPECT_TRUE(has(command_categories("publish", ""), "pubsub"));
  EXPECT_FALSE(command_categories("nosuchcommand", "").has_value());
  EXPECT_FALSE(command_categories(std::string(100, 'a'), "").has_value());
  EXPECT_EQ(category_names().size(), 21u);
}

}  // namespace
}  // namespace brokerside::sidecar
