#include "protocol/redis/commands.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace brokerside::protocol::redis {
namespace {

bool own(std::vector<std::string> args) { return needs_own_connection(args); }

TEST(redis_commands, names_compare_without_case) {
  EXPECT_TRUE(iequals("blpop", "BLPOP"));
  EXPECT_TRUE(iequals("XrEaD", "XREAD"));
  EXPECT_FALSE(iequals("GET", "GETX"));
  EXPECT_FALSE(iequals("GET", "SET"));
}

TEST(redis_commands, blocking_and_stateful_commands_need_their_own_connection) {
  for (const auto* name : {"BLPOP", "brpop", "BLMOVE", "BZPOPMIN", "WAIT", "MULTI", "exec", "WATCH",
                           "SELECT", "CLIENT", "XREADGROUP"}) {
    EXPECT_TRUE(own({name, "k", "1"})) << name;
  }
  for (const auto* name : {"GET", "SET", "XREAD", "PUBLISH", "EVAL"}) {
    EXPECT_FALSE(own({name, "k"})) << name;
  }
}

TEST(redis_commands, xread_needs_its_own_connection_only_when_it_blocks) {
  EXPECT_FALSE(own({"XREAD", "COUNT", "2", "STREAMS", "s", "0"}));
  EXPECT_TRUE(own({"XREAD", "block", "100", "STREAMS", "s", "$"}));
  EXPECT_TRUE(own({"xread", "COUNT", "1", "BLOCK", "0", "STREAMS", "s", "$"}));
  EXPECT_FALSE(own({}));
}

TEST(redis_commands, protocol_changing_commands) {
  for (const auto* name : {"SUBSCRIBE", "psubscribe", "SSUBSCRIBE", "MONITOR", "SYNC", "PSYNC",
                           "QUIT", "RESET", "HELLO"}) {
    EXPECT_TRUE(changes_protocol(name)) << name;
  }
  EXPECT_FALSE(changes_protocol("PUBLISH"));
  EXPECT_TRUE(is_subscribe("ssubscribe"));
  EXPECT_FALSE(is_subscribe("MONITOR"));
}

TEST(redis_commands, read_only_commands_may_run_again) {
  for (const auto* name : {"GET", "mget", "HGETALL", "LRANGE", "ZSCORE", "PING", "SCAN", "XLEN"}) {
    EXPECT_TRUE(is_read_only(name)) << name;
  }
  for (const auto* name : {"SET", "INCR", "LPUSH", "PUBLISH", "EVAL", "XADD", "DEL"}) {
    EXPECT_FALSE(is_read_only(name)) << name;
  }
}

TEST(redis_commands, errors_that_refuse_for_now) {
  EXPECT_TRUE(refused_for_now("LOADING Redis is loading the dataset in memory"));
  EXPECT_TRUE(refused_for_now("BUSY Redis is busy running a script."));
  EXPECT_TRUE(refused_for_now("MASTERDOWN Link with MASTER is down"));
  EXPECT_TRUE(refused_for_now("TRYAGAIN Multiple keys request during rehashing of slot"));
  EXPECT_FALSE(refused_for_now("ERR unknown command"));
  EXPECT_FALSE(refused_for_now("WRONGTYPE Operation against a key"));
  EXPECT_FALSE(refused_for_now("LOADING"));
}

}  // namespace
}  // namespace brokerside::protocol::redis
