#include "protocol/framed/json.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "protocol/errc.h"
#include "tests/unit/protocol/framed/bytes.h"

namespace brokerside::protocol::framed {
namespace {

using namespace std::string_literals;
using namespace test;

std::string encode(const value& v) {
  std::string out;
  EXPECT_FALSE(encode_json(v, out));
  return out;
}

value decode(std::string_view text, const limits& lim = {}) {
  value v;
  EXPECT_FALSE(decode_json(text, v, lim)) << text;
  return v;
}

std::error_code decode_error(std::string_view text, const limits& lim = {}) {
  value v = s("untouched");
  const auto ec = decode_json(text, v, lim);
  EXPECT_EQ(v, s("untouched")) << text;
  return ec;
}

std::error_code encode_error(const value& v) {
  std::string out = "kept";
  const auto ec = encode_json(v, out);
  EXPECT_EQ(out, "kept");
  return ec;
}

// `v` is written as `text` and read back as `v`.
void both_ways(const value& v, std::string_view text) {
  EXPECT_EQ(encode(v), text);
  EXPECT_EQ(decode(text), v) << text;
}

TEST(json, scalars) {
  both_ways(nil(), "null");
  both_ways(value{true}, "true");
  both_ways(value{false}, "false");
  both_ways(i(0), "0");
  both_ways(i(-1), "-1");
  both_ways(i(INT64_MIN), "-9223372036854775808");
  both_ways(i(INT64_MAX), "9223372036854775807");
  both_ways(value{UINT64_MAX}, "18446744073709551615");
  both_ways(value{1.5}, "1.5");
  both_ways(value{1.0}, "1.0");
  both_ways(s(""), "\"\"");
  EXPECT_TRUE(std::holds_alternative<std::uint64_t>(decode("9223372036854775808")));
  EXPECT_TRUE(std::holds_alternative<std::int64_t>(decode("-0")));
  EXPECT_TRUE(std::holds_alternative<double>(decode("1e2")));
  EXPECT_EQ(decode("1E2"), value{100.0});
  EXPECT_EQ(decode("-0.0"), value{-0.0});
  EXPECT_TRUE(std::signbit(std::get<double>(decode("-0.0"))));
}

// gen_vectors.py "json floats": aiomas's JSON codec (json.dumps, floats as
// Python's repr).
TEST(json, floats_as_python_writes_them) {
  both_ways(arr({i(0), i(3),
                 arr({value{1e16}, value{1e-05}, value{0.1}, value{-0.0}, value{1e22},
                      value{123456789.125}, value{5e-324}, value{1.7976931348623157e308},
                      value{9999999999999998.0}, value{0.0001}, value{1.0 / 3}})}),
            "[0, 3, [1e+16, 1e-05, 0.1, -0.0, 1e+22, 123456789.125, 5e-324, "
            "1.7976931348623157e+308, 9999999999999998.0, 0.0001, 0.3333333333333333]]");
  // A msgpack float 32 is written as the double it widens to, as Python
  // (which has no float 32) would write it; it reads back as that double.
  EXPECT_EQ(encode(value{0.1f}), "0.10000000149011612");
  EXPECT_EQ(decode(encode(value{0.1f})), value{static_cast<double>(0.1f)});
}

// gen_vectors.py "json escapes": ensure_ascii, the short escapes, '/' as is.
TEST(json, strings_as_python_writes_them) {
  both_ways(arr({i(0), i(4), s("tab\there \"q\" \\ \x7f \x01 /")}),
            R"([0, 4, "tab\there \"q\" \\ \u007f \u0001 /"])");
  both_ways(s("\xc3\xa9\xf0\x9f\x98\x80"), R"("\u00e9\ud83d\ude00")");  // é😀
  both_ways(s("\b\f\n\r"s + '\0'), R"("\b\f\n\r\u0000")");
  both_ways(s("\xef\xbf\xbf\xe2\x82\xac"), R"("\uffff\u20ac")");
  // Read: raw UTF-8, escapes in either case.
  EXPECT_EQ(decode("\"\xc3\xa9\""), s("\xc3\xa9"));
  EXPECT_EQ(decode(R"("\u00E9\uD83D\uDE00\/")"), s("\xc3\xa9\xf0\x9f\x98\x80/"));
}

TEST(json, arrays_and_objects_keep_order_and_duplicates) {
  both_ways(arr({}), "[]");
  both_ways(obj({}), "{}");
  both_ways(arr({i(1), arr({s("a"), nil()}), obj({{s("k"), arr({})}})}),
            R"([1, ["a", null], {"k": []}])");
  both_ways(obj({{s("b"), i(1)}, {s("a"), i(2)}, {s("b"), i(3)}}), R"({"b": 1, "a": 2, "b": 3})");
  // Any whitespace JSON allows, and none.
  EXPECT_EQ(decode(" \t\r\n[1,{\"k\":[2]} ]\n"), arr({i(1), obj({{s("k"), arr({i(2)})}})}));
}

// gen_vectors.py "rich request" (aiomas 2.0.1's JSON codec), after the length prefix.
TEST(json, matches_aiomas_byte_for_byte) {
  const auto v =
      arr({i(0), i(1),
           arr({s("hi"), value{1.5}, nil(), value{true}, value{false},
                obj({{s("a"), i(1)}, {s("b"), arr({i(1), i(2)})}}), i(-1), i(-33), i(128), i(65536),
                value{std::uint64_t{1} << 63}, i(INT64_MIN), s("\xc3\xa9\xf0\x9f\x98\x80")})});
  both_ways(v, R"([0, 1, ["hi", 1.5, null, true, false, {"a": 1, "b": [1, 2]}, -1, -33, 128, )"
               R"(65536, 9223372036854775808, -9223372036854775808, "\u00e9\ud83d\ude00"]])");
}

TEST(json, what_json_cannot_carry_is_refused) {
  EXPECT_EQ(encode_error(arr({i(1), value{bin{"x"}}})),
            errc::unsupported);  // aiomas: SerializationError
  EXPECT_EQ(encode_error(value{ext{1, "x"}}), errc::unsupported);
  EXPECT_EQ(encode_error(obj({{i(1), s("a")}})), errc::unsupported);  // Python: {"1": "a"}
  EXPECT_EQ(encode_error(obj({{nil(), s("a")}})), errc::unsupported);
  EXPECT_EQ(encode_error(value{std::nan("")}), errc::unsupported);  // Python: NaN
  EXPECT_EQ(encode_error(value{std::numeric_limits<double>::infinity()}), errc::unsupported);
  EXPECT_EQ(encode_error(value{-std::numeric_limits<float>::infinity()}), errc::unsupported);
  EXPECT_EQ(encode_error(s("\xff")), errc::unsupported);
}

TEST(json, what_python_reads_but_the_tree_cannot_hold) {
  EXPECT_EQ(decode_error("NaN"), errc::unsupported);
  EXPECT_EQ(decode_error("[1, Infinity]"), errc::unsupported);
  EXPECT_EQ(decode_error("[1, -Infinity]"), errc::unsupported);
  EXPECT_EQ(decode_error("1e400"), errc::unsupported);                 // Python: inf
  EXPECT_EQ(decode_error("18446744073709551616"), errc::unsupported);  // Python: an int
  EXPECT_EQ(decode_error("-9223372036854775809"), errc::unsupported);
  EXPECT_EQ(decode("1e-400"), value{0.0});  // underflow is just 0.0, in Python too
}

TEST(json, not_json_is_malformed) {
  for (const auto* text : {"",
                           " ",
                           "[",
                           "[1,]",
                           "[1 2]",
                           "{'a': 1}",
                           "{\"a\" 1}",
                           "{1: 2}",
                           "[1] 2",
                           "01",
                           "1.",
                           ".5",
                           "+1",
                           "nul",
                           "True",
                           "\"\\x41\"",
                           "\"\\ud800\"",
                           "\"\\udc00\\ud800\"",
                           "\"a\tb\"",
                           "\"\xff\"",
                           "\"\xed\xa0\x80\"",
                           "\xef\xbb\xbf[1]",
                           "/* c */ 1",
                           "[1] // c",
                           "Nan"}) {
    EXPECT_EQ(decode_error(text), errc::malformed_frame) << text;
  }
  EXPECT_EQ(decode_error("\"a\0b\""s), errc::malformed_frame);
}

TEST(json, depth_limit_both_ways) {
  const auto nested = [](std::size_t levels) {
    value v = nil();
    for (std::size_t k = 0; k < levels; ++k) v = arr({std::move(v)});
    return v;
  };
  const auto text = [](std::size_t levels) {
    return std::string(levels, '[') + "null" + std::string(levels, ']');
  };
  both_ways(nested(64), text(64));
  EXPECT_EQ(decode_error(text(65)), errc::nesting_too_deep);
  EXPECT_EQ(decode_error(std::string(100000, '[')), errc::nesting_too_deep);
  EXPECT_EQ(encode_error(nested(65)), errc::nesting_too_deep);
  limits lim;
  lim.max_depth = 1;
  EXPECT_EQ(decode(R"({"a": 1})", lim), obj({{s("a"), i(1)}}));
  EXPECT_EQ(decode_error(R"({"a": []})", lim), errc::nesting_too_deep);
}

TEST(json, limits_on_bytes_and_values) {
  limits lim;
  lim.max_bytes = 8;
  EXPECT_EQ(decode("[1, 2, 3]", {}), arr({i(1), i(2), i(3)}));
  EXPECT_EQ(decode_error("[1, 2, 3]", lim), errc::frame_too_large);
  lim = {};
  lim.max_elements = 4;  // the array and its elements, keys included
  EXPECT_EQ(decode("[1, 2, 3]", lim), arr({i(1), i(2), i(3)}));
  EXPECT_EQ(decode_error("[1, 2, 3, 4]", lim), errc::frame_too_large);
  EXPECT_EQ(decode_error(R"({"a": 1, "b": 2})", lim), errc::frame_too_large);
}

}  // namespace
}  // namespace brokerside::protocol::framed
