#include "sidecar/units.h"

#include <gtest/gtest.h>

namespace brokerside::sidecar {
namespace {

using std::chrono::milliseconds;

TEST(units, durations) {
  EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(parse_duration("5s"), milliseconds(5000));
  EXPECT_EQ(parse_duration("1.5s"), milliseconds(1500));
  EXPECT_EQ(parse_duration("2m"), milliseconds(120'000));
  EXPECT_EQ(parse_duration("1h"), milliseconds(3'600'000));
  EXPECT_EQ(parse_duration("0"), milliseconds(0));
  EXPECT_EQ(parse_duration("0s"), milliseconds(0));
}

TEST(units, bad_durations) {
  for (const auto* text : {"", "5", "s", "-1s", "5 s", "5sec", "1.0005s", "nan", "inf", "1e20h"}) {
    EXPECT_FALSE(parse_duration(text).has_value()) << text;
  }
}

TEST(units, sizes) {
  EXPECT_EQ(parse_size("65536"), 65536u);
  EXPECT_EQ(parse_size("4MiB"), 4u << 20);
  EXPECT_EQ(parse_size("512KiB"), 512u << 10);
  EXPECT_EQ(parse_size("1GiB"), 1u << 30);
  EXPECT_EQ(parse_size("1MB"), 1'000'000u);
  EXPECT_EQ(parse_size("10B"), 10u);
}

TEST(units, bad_sizes) {
  for (const auto* text : {"", "MiB", "-1", "1.5", "4mb", "4 MiB", "1e30GB"}) {
    EXPECT_FALSE(parse_size(text).has_value()) << text;
  }
}

}  // namespace
}  // namespace brokerside::sidecar
