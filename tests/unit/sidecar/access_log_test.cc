#include "sidecar/access_log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace brokerside::sidecar {
namespace {

TEST(access_log, a_line_is_one_json_object_with_the_operations_facts) {
  const auto at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764633600123));
  const auto text =
      access_log::line({"4bf92f3577b34da6a3ce929d0e0e4736", "token:app", "cache", "command",
                        "NOT_FOUND", "no such key \xff", std::chrono::microseconds(1500)},
                       at);
  EXPECT_EQ(text.find('\n'), std::string::npos);
  const auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["time"], "2025-12-02T00:00:00.123Z");
  EXPECT_EQ(j["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(j["caller"], "token:app");
  EXPECT_EQ(j["target"], "cache");
  EXPECT_EQ(j["operation"], "command");
  EXPECT_EQ(j["status"], "NOT_FOUND");
  EXPECT_EQ(j["message"], "no such key \xef\xbf\xbd");  // a byte that is not UTF-8 replaced
  EXPECT_DOUBLE_EQ(j["duration_ms"].get<double>(), 1.5);
  // No trace, no message: no keys for them.
  const auto plain =
      nlohmann::json::parse(access_log::line({"", "unix", "cache", "publish", "OK", "", {}}, at));
  EXPECT_FALSE(plain.contains("trace_id"));
  EXPECT_FALSE(plain.contains("message"));
}

TEST(access_log, sampling_by_trace_id_logs_a_trace_everywhere_or_nowhere) {
  const access_log none(0), all(1), half(0.5);
  const trace_context low{"00-4bf92f3577b34da60000000000000001-00f067aa0ba902b7-01", ""};
  const trace_context high{"00-4bf92f3577b34da6ffffffffffffffff-00f067aa0ba902b7-01", ""};
  EXPECT_FALSE(none.sampled(low));
  EXPECT_TRUE(all.sampled(high));
  for (int i = 0; i < 10; ++i) {  // the same answer every time, as in every sidecar
    EXPECT_TRUE(half.sampled(low));
    EXPECT_FALSE(half.sampled(high));
  }
  int logged = 0;  // without a trace: at random, about half
  for (int i = 0; i < 2000; ++i) logged += half.sampled({}) ? 1 : 0;
  EXPECT_GT(logged, 800);
  EXPECT_LT(logged, 1200);
}

}  // namespace
}  // namespace brokerside::sidecar
