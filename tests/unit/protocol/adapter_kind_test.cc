#include "protocol/adapter_kind.h"

#include <gtest/gtest.h>

namespace brokerside::protocol {
namespace {

TEST(adapter_kind, schemes_select_adapters) {
  EXPECT_EQ(adapter_for_scheme("redis"), adapter_kind::redis);
  EXPECT_EQ(adapter_for_scheme("rediss"), adapter_kind::redis);
  EXPECT_EQ(adapter_for_scheme("redis+unix"), adapter_kind::redis);
  EXPECT_EQ(adapter_for_scheme("amqps"), adapter_kind::amqp);
  EXPECT_EQ(adapter_for_scheme("nats"), adapter_kind::nats);
  EXPECT_EQ(adapter_for_scheme("kafka"), adapter_kind::kafka);
  EXPECT_EQ(adapter_for_scheme("framed+unix"), adapter_kind::framed);
  EXPECT_FALSE(adapter_for_scheme("REDIS").has_value());
  EXPECT_FALSE(adapter_for_scheme("").has_value());
  EXPECT_FALSE(adapter_for_scheme("http").has_value());
}

TEST(adapter_kind, names) {
  EXPECT_EQ(name(adapter_kind::redis), "redis");
  EXPECT_EQ(name(adapter_kind::amqp), "amqp");
  EXPECT_EQ(name(adapter_kind::nats), "nats");
  EXPECT_EQ(name(adapter_kind::kafka), "kafka");
  EXPECT_EQ(name(adapter_kind::framed), "framed");
}

TEST(adapter_kind, known_schemes_lists_every_scheme) {
  const std::string known(known_schemes());
  for (const auto* scheme : {"redis", "rediss", "redis+unix", "unix", "amqp", "amqps", "nats",
                             "tls", "kafka", "framed", "framed+unix"}) {
    EXPECT_TRUE(adapter_for_scheme(scheme).has_value()) << scheme;
    EXPECT_NE(known.find(scheme), std::string::npos) << scheme;
  }
}

}  // namespace
}  // namespace brokerside::protocol
