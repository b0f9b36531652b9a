// Per-client limits without a server: counts, refusals naming the setting,
// and an entry that goes with its last hold.
#include "sidecar/client_limits.h"

#include <gtest/gtest.h>

namespace brokerside::sidecar {
namespace {

TEST(client_table, operations_beyond_the_limit_are_refused_and_freed_on_completion) {
  client_table table({.in_flight = 2, .streams = 0});
  auto a = table.find("ipv4:127.0.0.1:1000");
  auto other = table.find("ipv4:127.0.0.1:2000");
  EXPECT_TRUE(a->begin_operation().ok());
  EXPECT_TRUE(a->begin_operation().ok());
  const auto refused = a->begin_operation();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(refused.error_message(),
            "client ipv4:127.0.0.1:1000 has 2 operations in flight, its most "
            "(server.per_client.in_flight)");
  EXPECT_TRUE(other->begin_operation().ok());  // another client is not held
  a->end_operation();
  EXPECT_TRUE(a->begin_operation().ok());
  EXPECT_EQ(table.refused_in_flight(), 1u);
  EXPECT_EQ(table.find("ipv4:127.0.0.1:1000"), a);  // one entry per peer while held
}

TEST(client_table, streams_beyond_the_limit_are_refused_and_freed_when_one_ends) {
  client_table table({.in_flight = 0, .streams = 2});
  client_stream one, two, three;
  EXPECT_TRUE(table.open_stream("fd:7", one).ok());
  EXPECT_TRUE(table.open_stream("fd:7", two).ok());
  const auto refused = table.open_stream("fd:7", three);
  EXPECT_EQ(refused.error_message(),
            "client fd:7 has 2 streams open, its most (server.per_client.streams)");
  EXPECT_EQ(three.entry(), nullptr);
  one = client_stream();
  EXPECT_TRUE(table.open_stream("fd:7", three).ok());
  EXPECT_EQ(table.refused_streams(), 1u);
  // No limit on operations: any number.
  for (int i = 0; i < 100'000; ++i) ASSERT_TRUE(three.entry()->begin_operation().ok());
}

TEST(client_table, an_entry_goes_with_its_last_hold) {
  client_table table({});
  {
    client_stream s;
    ASSERT_TRUE(table.open_stream("ipv6:[::1]:5000", s).ok());
    auto held = table.find("ipv6:[::1]:5000");
    EXPECT_EQ(table.clients(), 1u);
  }
  EXPECT_EQ(table.clients(), 0u);
  std::string text;
  table.render(text);
  EXPECT_NE(text.find("brokerside_client_limit{limit=\"in_flight\"} 10000\n"), std::string::npos);
  EXPECT_NE(text.find("brokerside_client_limit{limit=\"streams\"} 1000\n"), std::string::npos);
  EXPECT_NE(text.find("brokerside_clients 0\n"), std::string::npos);
}

}  // namespace
}  // namespace brokerside::sidecar
