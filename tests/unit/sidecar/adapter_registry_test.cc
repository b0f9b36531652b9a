#include "sidecar/adapter_registry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

#include "sidecar/cli.h"

namespace brokerside::sidecar {
namespace {

TEST(adapter_registry, the_builtin_adapters_and_their_schemes) {
  const auto& r = builtin_adapters();
  EXPECT_EQ(r.scheme_list(),
            "redis, rediss, redis+unix, unix, redis+cluster, rediss+cluster, redis+sentinel, "
            "rediss+sentinel, amqp, amqps, nats, tls, kafka, kafkas, framed, framed+unix");
  ASSERT_NE(r.find("redis"), nullptr);
  EXPECT_TRUE(r.find("redis")->implemented());
  EXPECT_TRUE(r.find("amqp")->implemented());
  EXPECT_TRUE(r.find("framed")->implemented());
  EXPECT_TRUE(r.find("nats")->implemented());
  EXPECT_TRUE(r.find("kafka")->implemented());
  EXPECT_EQ(r.find("mqtt"), nullptr);
  for (const auto& s : r.schemes()) {
    EXPECT_NE(r.find(s.adapter), nullptr) << s.scheme;  // each scheme names its adapter
  }
  const auto amqps = std::find_if(r.schemes().begin(), r.schemes().end(),
                                  [](const auto& s) { return s.scheme == "amqps"; });
  ASSERT_NE(amqps, r.schemes().end());
  EXPECT_TRUE(amqps->tls);
  EXPECT_EQ(amqps->default_port, 5671);
}

TEST(adapter_registry, a_scheme_or_name_claimed_twice_is_refused) {
  const adapter_descriptor a{.name = "a", .schemes = {{.scheme = "x"}}};
  const adapter_descriptor b{.name = "b", .schemes = {{.scheme = "x"}}};
  const adapter_descriptor a_again{.name = "a", .schemes = {{.scheme = "y"}}};
  try {
    adapter_registry({&a, &b});
    FAIL() << "a scheme claimed twice was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "adapter registry: the scheme 'x' is claimed by a and b");
  }
  EXPECT_THROW(adapter_registry({&a, &a_again}), std::invalid_argument);
}

TEST(adapter_registry, help_lists_every_scheme_wrapped) {
  const std::vector<pool::url_scheme> many{
      {.scheme = "an-unusually-long-scheme-name-with-no-space"}, {.scheme = "b"}};
  const adapter_descriptor long_names{.name = "long", .schemes = many};
  const adapter_registry r({&long_names});
  const auto text = usage(r);
  EXPECT_NE(text.find("an-unusually-long-scheme-name"), std::string::npos);
  const auto builtin = usage(builtin_adapters());
  EXPECT_NE(builtin.find("url schemes: redis, rediss, redis+unix, unix,"), std::string::npos)
      << builtin;
  EXPECT_NE(builtin.find("framed+unix)"), std::string::npos) << builtin;
  // The scheme lines, under their option's description, fit 80 columns.
  for (std::size_t at = 0, end; (end = builtin.find('\n', at)) != std::string::npos; at = end + 1) {
    const auto line = builtin.substr(at, end - at);
    if (line.rfind(std::string(28, ' '), 0) == 0) {
      EXPECT_LE(line.size(), 80u) << line;
    }
  }
}

}  // namespace
}  // namespace brokerside::sidecar
