#include "pool/broker_url.h"

#include <gtest/gtest.h>

namespace brokerside::pool {
namespace {

// The schemes a registry of adapters would give the parser.
const url_scheme schemes[] = {
    {"redis", "redis", false, false, 6379},  {"rediss", "redis", true, false, 6379},
    {"redis+unix", "redis", false, true, 0}, {"unix", "redis", false, true, 0},
    {"amqp", "amqp", false, false, 5672},    {"amqps", "amqp", true, false, 5671},
    {"nats", "nats", false, false, 4222},    {"tls", "nats", true, false, 4222},
    {"framed", "framed", false, false, 0},   {"framed+unix", "framed", false, true, 0},
};

broker_url parse_ok(std::string_view text) {
  std::string error;
  auto url = parse_broker_url(text, schemes, error);
  EXPECT_TRUE(url.has_value()) << text << ": " << error;
  return url.value_or(broker_url{});
}

std::string parse_error(std::string_view text) {
  std::string error;
  EXPECT_FALSE(parse_broker_url(text, schemes, error).has_value()) << text;
  return error;
}

TEST(broker_url, full_redis_url) {
  const auto url = parse_ok("redis://alice:s3cret@cache.internal:6380/2?timeout=5&name=x");
  EXPECT_EQ(url.scheme, "redis");
  EXPECT_EQ(url.adapter, "redis");
  EXPECT_EQ(url.default_port, 6379);
  EXPECT_FALSE(url.tls);
  EXPECT_EQ(url.user, "alice");
  EXPECT_EQ(url.password, "s3cret");
  EXPECT_EQ(url.host, "cache.internal");
  EXPECT_EQ(url.port, 6380);
  EXPECT_EQ(url.path, "2");
  EXPECT_EQ(url.option("timeout"), "5");
  EXPECT_EQ(url.option("name"), "x");
  EXPECT_FALSE(url.option("missing").has_value());
  EXPECT_EQ(url.redacted, "redis://alice:***@cache.internal:6380/2?timeout=5&name=x");
}

TEST(broker_url, host_only_keeps_default_port) {
  const auto url = parse_ok("redis://localhost");
  EXPECT_EQ(url.host, "localhost");
  EXPECT_EQ(url.port, 0);
  EXPECT_EQ(url.path, "");
  EXPECT_EQ(url.redacted, "redis://localhost");
}

TEST(broker_url, tls_schemes) {
  EXPECT_TRUE(parse_ok("rediss://h:1").tls);
  EXPECT_TRUE(parse_ok("amqps://h:1").tls);
  EXPECT_TRUE(parse_ok("tls://h:1").tls);
  EXPECT_EQ(parse_ok("tls://h:1").adapter, "nats");
  EXPECT_EQ(parse_ok("amqps://h").default_port, 5671);
}

TEST(broker_url, amqp_vhost_is_percent_decoded) {
  EXPECT_EQ(parse_ok("amqp://guest:guest@127.0.0.1:5672/%2f").path, "/");
  EXPECT_EQ(parse_ok("amqp://guest:guest@127.0.0.1:5672/prod").path, "prod");
  EXPECT_EQ(parse_ok("amqp://127.0.0.1").path, "");
}

TEST(broker_url, ipv6_host) {
  const auto url = parse_ok("nats://[::1]:4222");
  EXPECT_EQ(url.host, "::1");
  EXPECT_EQ(url.port, 4222);
  EXPECT_EQ(parse_ok("nats://[fe80::1]").host, "fe80::1");
}

TEST(broker_url, unix_socket) {
  const auto url = parse_ok("redis+unix:///run/redis/redis.sock?db=3");
  EXPECT_EQ(url.unix_path, "/run/redis/redis.sock");
  EXPECT_EQ(url.host, "");
  EXPECT_EQ(url.option("db"), "3");
  EXPECT_EQ(parse_ok("framed+unix:///tmp/peer.sock").adapter, "framed");
  EXPECT_EQ(parse_ok("unix://:pw@/tmp/r.sock").password, "pw");
  EXPECT_EQ(parse_ok("unix://:pw@/tmp/r.sock").redacted, "unix://:***@/tmp/r.sock");
}

TEST(broker_url, password_with_reserved_characters) {
  EXPECT_EQ(parse_ok("redis://:p%40ss%3Aword@h:1").password, "p@ss:word");
  // An unencoded '@' in the password: everything up to the last '@' is user info.
  const auto url = parse_ok("redis://u:p@ss@h:1");
  EXPECT_EQ(url.password, "p@ss");
  EXPECT_EQ(url.host, "h");
  EXPECT_EQ(url.redacted, "redis://u:***@h:1");
}

TEST(broker_url, user_without_password) {
  const auto url = parse_ok("amqp://guest@h");
  EXPECT_EQ(url.user, "guest");
  EXPECT_EQ(url.password, "");
  EXPECT_EQ(url.redacted, "amqp://guest@h");
}

TEST(broker_url, a_user_alone_is_redacted_where_the_scheme_makes_it_a_token) {
  const url_scheme nats[] = {{.scheme = "nats", .adapter = "nats", .user_alone_is_secret = true}};
  std::string error;
  const auto token = parse_broker_url("nats://s3cret@h:4222", nats, error);
  ASSERT_TRUE(token) << error;
  EXPECT_EQ(token->user, "s3cret");
  EXPECT_EQ(token->redacted, "nats://***@h:4222");
  const auto both = parse_broker_url("nats://app:pw@h", nats, error);
  ASSERT_TRUE(both) << error;
  EXPECT_EQ(both->redacted, "nats://app:***@h");
}

TEST(broker_url, errors_name_the_problem) {
  EXPECT_EQ(parse_error("localhost:6379"), "not a URL (expected scheme://...)");
  EXPECT_NE(parse_error("mongodb://h").find("unknown URL scheme 'mongodb'"), std::string::npos);
  EXPECT_EQ(parse_error("redis://"), "no host");
  EXPECT_EQ(parse_error("redis://:pw@:6379"), "no host");
  EXPECT_EQ(parse_error("redis://h:0"), "port '0' is not a number in 1-65535");
  EXPECT_EQ(parse_error("redis://h:65536"), "port '65536' is not a number in 1-65535");
  EXPECT_EQ(parse_error("redis://h:12ab"), "port '12ab' is not a number in 1-65535");
  EXPECT_EQ(parse_error("redis://[::1"), "unterminated '[' in the host");
  EXPECT_EQ(parse_error("redis://[::1]x"), "unexpected text after ']'");
  EXPECT_EQ(parse_error("redis://h/%zz"), "bad percent-encoding in the path");
  EXPECT_EQ(parse_error("redis://h?a=%4"), "bad percent-encoding in the options");
  EXPECT_EQ(parse_error("redis://h?=1"), "an option has no name");
  EXPECT_EQ(parse_error("redis+unix://host/x.sock").substr(0, 26), "a Unix socket URL has no h");
  EXPECT_EQ(parse_error("redis+unix://"), "no socket path");
}

TEST(broker_url, errors_never_contain_the_password) {
  for (const auto* text : {"redis://u:hunter2@h:99999", "redis://u:hunter2@", "bogus://u:hunter2@h",
                           "redis://u:hunter2%zz@h"}) {
    EXPECT_EQ(parse_error(text).find("hunter2"), std::string::npos) << text;
  }
}

TEST(broker_url, an_unencoded_slash_or_question_mark_in_a_password_is_refused) {
  // Else "hunter" would be the port (and echoed in its error), or "1234"
  // the port and "/2@h" the vhost: a URL that parses, unredacted.
  for (const auto* text :
       {"redis://u:hunter/2@h:1", "amqp://u:1234/hunter2@h", "amqp://u:1234?hunter2@h",
        "redis://u:hunter?2@h:1", "amqp://h/vhost@x"}) {
    const auto error = parse_error(text);
    EXPECT_EQ(error.find("an '@' after the host"), 0u) << text << ": " << error;
    EXPECT_EQ(error.find("hunter"), std::string::npos) << text;
  }
  // Encoded, they are fine; so is an '@' in an option's value.
  EXPECT_EQ(parse_ok("amqp://u:1234%2Fhunter2@h").password, "1234/hunter2");
  EXPECT_EQ(parse_ok("amqp://u:1234%3Fhunter2@h").password, "1234?hunter2");
  EXPECT_EQ(parse_ok("amqp://h/v%40x").path, "v@x");
  EXPECT_EQ(parse_ok("amqp://h?connection_name=app@pod").option("connection_name"), "app@pod");
  EXPECT_EQ(parse_ok("framed+unix:///run/a@b.sock").unix_path, "/run/a@b.sock");
}

}  // namespace
}  // namespace brokerside::pool
