// server.max_memory's decisions, with readings passed in.
#include "sidecar/memory_guard.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

namespace brokerside::sidecar {
namespace {

TEST(memory_guard, refuses_above_the_limit_and_takes_work_again_below_95_percent) {
  boost::asio::io_context io;
  memory_guard guard(io.get_executor(), 100 << 20);
  guard.observe(90 << 20);
  EXPECT_TRUE(guard.admit().ok());
  guard.observe(101 << 20);
  const auto refused = guard.admit();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(refused.error_message(),
            "brokerside is above server.max_memory (101 MiB resident, limit 100 MiB); retry "
            "shortly or elsewhere");
  guard.observe(97 << 20);  // under the limit, not yet under 95 %
  EXPECT_TRUE(guard.over());
  guard.observe(94 << 20);
  EXPECT_TRUE(guard.admit().ok());
  std::string text;
  guard.render(text);
  EXPECT_NE(text.find("brokerside_memory_refusals_total 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("brokerside_max_memory_bytes 104857600\n"), std::string::npos) << text;
}

TEST(memory_guard, off_at_zero_but_still_reads) {
  boost::asio::io_context io;
  memory_guard guard(io.get_executor(), 0);
  guard.observe(std::uint64_t{1} << 40);
  EXPECT_TRUE(guard.admit().ok());
  EXPECT_GT(resident_bytes(), 0u);
}

}  // namespace
}  // namespace brokerside::sidecar
