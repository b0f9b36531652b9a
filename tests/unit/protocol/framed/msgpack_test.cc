#include "protocol/framed/msgpack.h"

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
  EXPECT_FALSE(encode_msgpack(v, out));
  return out;
}

value decode_all(std::string_view bytes, const limits& lim = {}) {
  value v;
  std::error_code ec;
  EXPECT_EQ(decode_msgpack(bytes, v, ec, lim), bytes.size()) << hex(bytes);
  EXPECT_FALSE(ec) << ec.message() << " for " << hex(bytes);
  return v;
}

std::error_code decode_error(std::string_view bytes, const limits& lim = {}) {
  value v;
  std::error_code ec;
  EXPECT_EQ(decode_msgpack(bytes, v, ec, lim), 0u) << hex(bytes);
  return ec;
}

// `v` encodes to `bytes` (assembled from the spec) and decodes back to `v`.
void both_ways(const value& v, const std::string& bytes) {
  EXPECT_EQ(hex(encode(v)), hex(bytes));
  EXPECT_EQ(decode_all(bytes), v) << hex(bytes);
}

TEST(msgpack, nil_and_booleans) {
  both_ways(nil(), "\xc0");
  both_ways(value{false}, "\xc2");
  both_ways(value{true}, "\xc3");
}

TEST(msgpack, non_negative_integers_at_every_boundary) {
  both_ways(i(0), byte(0x00));
  both_ways(i(127), byte(0x7f));
  both_ways(i(128), byte(0xcc) + be(128, 1));
  both_ways(i(255), byte(0xcc) + be(255, 1));
  both_ways(i(256), byte(0xcd) + be(256, 2));
  both_ways(i(65535), byte(0xcd) + be(65535, 2));
  both_ways(i(65536), byte(0xce) + be(65536, 4));
  both_ways(i(4294967295), byte(0xce) + be(4294967295, 4));
  both_ways(i(4294967296), byte(0xcf) + be(4294967296, 8));
  both_ways(i(INT64_MAX), byte(0xcf) + be(INT64_MAX, 8));
  both_ways(value{std::uint64_t{1} << 63}, byte(0xcf) + be(std::uint64_t{1} << 63, 8));
  both_ways(value{UINT64_MAX}, byte(0xcf) + be(UINT64_MAX, 8));
  // Above INT64_MAX the decoder keeps uint64; below, int64 (== compares values).
  EXPECT_TRUE(std::holds_alternative<std::uint64_t>(decode_all(byte(0xcf) + be(UINT64_MAX, 8))));
  EXPECT_TRUE(std::holds_alternative<std::int64_t>(decode_all(byte(0xcf) + be(INT64_MAX, 8))));
  EXPECT_EQ(hex(encode(value{std::uint64_t{5}})), "05");
}

TEST(msgpack, negative_integers_at_every_boundary) {
  both_ways(i(-1), byte(0xff));
  both_ways(i(-32), byte(0xe0));
  both_ways(i(-33), byte(0xd0) + be(0xdf, 1));
  both_ways(i(-128), byte(0xd0) + be(0x80, 1));
  both_ways(i(-129), byte(0xd1) + be(0xff7f, 2));
  both_ways(i(-32768), byte(0xd1) + be(0x8000, 2));
  both_ways(i(-32769), byte(0xd2) + be(0xffff7fff, 4));
  both_ways(i(INT32_MIN), byte(0xd2) + be(0x80000000, 4));
  both_ways(i(std::int64_t{INT32_MIN} - 1), byte(0xd3) + be(0xffffffff7fffffff, 8));
  both_ways(i(INT64_MIN), byte(0xd3) + be(0x8000000000000000, 8));
}

TEST(msgpack, longer_integer_forms_decode_to_the_same_value) {
  EXPECT_EQ(decode_all("\xd0\x05"s), i(5));
  EXPECT_EQ(decode_all("\xcc\x05"s), i(5));
  EXPECT_EQ(decode_all("\xcd\x00\x05"s), i(5));
  EXPECT_EQ(decode_all("\xce\x00\x00\x00\x05"s), i(5));
  EXPECT_EQ(decode_all("\xcf\x00\x00\x00\x00\x00\x00\x00\x05"s), i(5));
  EXPECT_EQ(decode_all("\xd1\xff\xfe"s), i(-2));
  EXPECT_EQ(decode_all("\xd2\xff\xff\xff\xfe"s), i(-2));
  EXPECT_EQ(decode_all("\xd3\xff\xff\xff\xff\xff\xff\xff\xfe"s), i(-2));
  EXPECT_EQ(encode(decode_all("\xd0\x05"s)), "\x05");  // re-encoded shortest
}

TEST(msgpack, floats_keep_their_width) {
  both_ways(value{1.5}, byte(0xcb) + be(0x3ff8000000000000, 8));
  both_ways(value{-0.0}, byte(0xcb) + be(0x8000000000000000, 8));
  both_ways(value{1.5f}, byte(0xca) + be(0x3fc00000, 4));
  EXPECT_NE(value{1.5f}, value{1.5});
  // NaN and infinities pass bit for bit.
  const auto nan = byte(0xcb) + be(0x7ff8000000000001, 8);
  EXPECT_EQ(encode(decode_all(nan)), nan);
  const auto nan32 = byte(0xca) + be(0x7fc00001, 4);
  EXPECT_EQ(encode(decode_all(nan32)), nan32);
  EXPECT_TRUE(std::isinf(std::get<double>(decode_all(byte(0xcb) + be(0xfff0000000000000, 8)))));
}

TEST(msgpack, strings_at_every_boundary) {
  both_ways(s(""), "\xa0");
  both_ways(s("a"),
            "\xa1"
            "a");
  both_ways(s(std::string(31, 'x')), byte(0xbf) + std::string(31, 'x'));
  both_ways(s(std::string(32, 'x')), byte(0xd9) + be(32, 1) + std::string(32, 'x'));
  both_ways(s(std::string(255, 'x')), byte(0xd9) + be(255, 1) + std::string(255, 'x'));
  both_ways(s(std::string(256, 'x')), byte(0xda) + be(256, 2) + std::string(256, 'x'));
  both_ways(s(std::string(65535, 'x')), byte(0xda) + be(65535, 2) + std::string(65535, 'x'));
  both_ways(s(std::string(65536, 'x')), byte(0xdb) + be(65536, 4) + std::string(65536, 'x'));
  both_ways(s("\xc3\xa9\xf0\x9f\x98\x80"), "\xa6\xc3\xa9\xf0\x9f\x98\x80");  // é😀
  // Longer forms than needed decode too.
  EXPECT_EQ(decode_all("\xd9\x03"
                       "abc"s),
            s("abc"));
  EXPECT_EQ(decode_all("\xda\x00\x03"
                       "abc"s),
            s("abc"));
  EXPECT_EQ(decode_all("\xdb\x00\x00\x00\x03"
                       "abc"s),
            s("abc"));
}

TEST(msgpack, binaries_at_every_boundary) {
  const auto b = [](std::size_t n) { return value{bin{std::string(n, '\xff')}}; };
  both_ways(b(0), "\xc4\x00"s);
  both_ways(b(255), byte(0xc4) + be(255, 1) + std::string(255, '\xff'));
  both_ways(b(256), byte(0xc5) + be(256, 2) + std::string(256, '\xff'));
  both_ways(b(65535), byte(0xc5) + be(65535, 2) + std::string(65535, '\xff'));
  both_ways(b(65536), byte(0xc6) + be(65536, 4) + std::string(65536, '\xff'));
  EXPECT_EQ(decode_all("\xc6\x00\x00\x00\x02\x00\x01"s), value{bin{"\x00\x01"s}});
  EXPECT_NE(value{bin{"a"}}, s("a"));  // bytes are not text
}

TEST(msgpack, arrays_at_every_boundary) {
  const auto nils = [](std::size_t n) { return value{array(n, nil())}; };
  both_ways(nils(0), "\x90");
  both_ways(nils(15), byte(0x9f) + std::string(15, '\xc0'));
  both_ways(nils(16), byte(0xdc) + be(16, 2) + std::string(16, '\xc0'));
  both_ways(nils(65535), byte(0xdc) + be(65535, 2) + std::string(65535, '\xc0'));
  both_ways(nils(65536), byte(0xdd) + be(65536, 4) + std::string(65536, '\xc0'));
  both_ways(arr({i(1), arr({s("a")}), nil()}),
            "\x93\x01\x91\xa1"
            "a\xc0");
  EXPECT_EQ(decode_all("\xdd\x00\x00\x00\x01\x07"s), arr({i(7)}));
}

TEST(msgpack, maps_at_every_boundary_with_any_keys) {
  const auto entries = [](std::size_t n) {
    map m;
    for (std::size_t k = 0; k < n; ++k) m.push_back({i(static_cast<std::int64_t>(k % 100)), nil()});
    return value{std::move(m)};
  };
  const auto pairs = [](std::size_t n) {
    std::string out;
    for (std::size_t k = 0; k < n; ++k) out += byte(static_cast<std::uint8_t>(k % 100)) + "\xc0";
    return out;
  };
  both_ways(entries(0), "\x80");
  both_ways(entries(15), byte(0x8f) + pairs(15));
  both_ways(entries(16), byte(0xde) + be(16, 2) + pairs(16));
  both_ways(entries(65535), byte(0xde) + be(65535, 2) + pairs(65535));
  both_ways(entries(65536), byte(0xdf) + be(65536, 4) + pairs(65536));
  // Order and duplicates are kept; keys may be anything.
  both_ways(obj({{s("b"), i(1)}, {s("a"), i(2)}, {s("b"), i(3)}}),
            "\x83\xa1"
            "b\x01\xa1"
            "a\x02\xa1"
            "b\x03");
  both_ways(obj({{arr({i(1)}), value{true}}, {nil(), value{1.5f}}}),
            "\x82\x91\x01\xc3\xc0\xca\x3f\xc0\x00\x00"s);
}

TEST(msgpack, extensions_in_every_form) {
  const auto e = [](std::int8_t type, std::size_t n) {
    return value{ext{type, std::string(n, 'z')}};
  };
  both_ways(e(1, 1), "\xd4\x01z");
  both_ways(e(1, 2), "\xd5\x01zz");
  both_ways(e(1, 4), "\xd6\x01" + std::string(4, 'z'));
  both_ways(e(1, 8), "\xd7\x01" + std::string(8, 'z'));
  both_ways(e(1, 16), "\xd8\x01" + std::string(16, 'z'));
  both_ways(e(5, 0), "\xc7\x00\x05"s);
  both_ways(e(5, 3), "\xc7\x03\x05zzz");
  both_ways(e(5, 17), "\xc7\x11\x05" + std::string(17, 'z'));
  both_ways(e(5, 255), "\xc7\xff\x05" + std::string(255, 'z'));
  both_ways(e(5, 256), "\xc8\x01\x00\x05"s + std::string(256, 'z'));
  both_ways(e(5, 65536), "\xc9\x00\x01\x00\x00\x05"s + std::string(65536, 'z'));
  // The timestamp extension (-1) stays an ext.
  both_ways(value{ext{-1, "\x00\x00\x00\x01"s}}, "\xd6\xff\x00\x00\x00\x01"s);
  EXPECT_EQ(decode_all("\xc8\x00\x01\x7f"
                       "a"s),
            (value{ext{127, "a"}}));
}

// What msgpack-python 1.0.8 reads back (gen_vectors.py, "unpack"): float
// 32 as 1.5, a Timestamp(1), ExtType(1, b'abc'), {1: 'x'} (with
// strict_map_key=False: by default it refuses keys that are not str or
// bytes), 2^63, 2^64-1.
TEST(msgpack, what_msgpack_python_reads_back) {
  EXPECT_EQ(hex(encode(value{1.5f})), "ca3fc00000");
  EXPECT_EQ(hex(encode(value{ext{-1, "\x00\x00\x00\x01"s}})), "d6ff00000001");
  EXPECT_EQ(hex(encode(value{ext{1, "abc"}})), "c70301616263");
  EXPECT_EQ(hex(encode(obj({{i(1), s("x")}}))), "8101a178");
  EXPECT_EQ(hex(encode(value{std::uint64_t{1} << 63})), "cf8000000000000000");
  EXPECT_EQ(hex(encode(value{UINT64_MAX})), "cfffffffffffffffff");
}

// The content of gen_vectors.py's "rich request", as aiomas 2.0.1's MsgPack
// codec (msgpack 1.0.8 packb, use_bin_type=True) wrote it, after the frame's
// length prefix: [0, 1, [...]].
const std::string python_rich_payload = unhex(
    "9300019da26869cb3ff8000000000000c0c3c282a16101a162920102ffd0dfcc80ce00010000cf800000000000"
    "0000d38000000000000000a6c3a9f09f9880");

value rich_value() {
  return arr(
      {i(0), i(1),
       arr({s("hi"), value{1.5}, nil(), value{true}, value{false},
            obj({{s("a"), i(1)}, {s("b"), arr({i(1), i(2)})}}), i(-1), i(-33), i(128), i(65536),
            value{std::uint64_t{1} << 63}, i(INT64_MIN), s("\xc3\xa9\xf0\x9f\x98\x80")})});
}

TEST(msgpack, matches_msgpack_python_byte_for_byte) {
  EXPECT_EQ(decode_all(python_rich_payload), rich_value());
  EXPECT_EQ(hex(encode(rich_value())), hex(python_rich_payload));
  // Python bytes (use_bin_type=True): bin 8.
  EXPECT_EQ(hex(encode(arr({value{bin{"\x00\xff"s}}, value{bin{}}}))), "92c40200ffc400");
}

TEST(msgpack, every_cut_of_a_message_needs_more) {
  const auto& whole = python_rich_payload;
  for (std::size_t n = 0; n < whole.size(); ++n) {
    value v;
    std::error_code ec;
    EXPECT_EQ(decode_msgpack(std::string_view(whole).substr(0, n), v, ec), 0u) << n;
    EXPECT_FALSE(ec) << n << ": " << ec.message();
  }
  // One object at a time: what follows is left for the next call.
  value v;
  std::error_code ec;
  EXPECT_EQ(decode_msgpack(whole + "\xc0\xc1", v, ec), whole.size());
  EXPECT_FALSE(ec);
}

TEST(msgpack, never_used_byte_is_malformed) {
  EXPECT_EQ(decode_error("\xc1"), errc::malformed_frame);
  EXPECT_EQ(decode_error("\x92\x01\xc1"), errc::malformed_frame);
  EXPECT_EQ(decode_error("\x81\xc1\x01"), errc::malformed_frame);
}

TEST(msgpack, text_must_be_utf8) {
  EXPECT_EQ(decode_error("\xa1\xff"), errc::malformed_frame);
  EXPECT_EQ(decode_error("\xa2\xc0\x80"), errc::malformed_frame);          // overlong NUL
  EXPECT_EQ(decode_error("\xa3\xed\xa0\x80"), errc::malformed_frame);      // a surrogate
  EXPECT_EQ(decode_error("\xa4\xf4\x90\x80\x80"), errc::malformed_frame);  // above U+10FFFF
  EXPECT_EQ(decode_error("\xa1\xc3"), errc::malformed_frame);              // cut in a character
  std::string out = "kept";
  EXPECT_EQ(encode_msgpack(arr({i(1), s("\xff")}), out), errc::unsupported);
  EXPECT_EQ(out, "kept");
  // Bytes are bytes: anything goes in bin.
  EXPECT_EQ(decode_all("\xc4\x01\xff"s), value{bin{"\xff"}});
}

TEST(msgpack, hostile_headers_are_refused_before_allocating) {
  EXPECT_EQ(decode_error("\xdd\xff\xff\xff\xff"), errc::frame_too_large);      // array 32 of 2^32-1
  EXPECT_EQ(decode_error("\xdf\xff\xff\xff\xff"), errc::frame_too_large);      // map 32
  EXPECT_EQ(decode_error("\xdb\xff\xff\xff\xff"), errc::frame_too_large);      // str 32 of 4 GiB
  EXPECT_EQ(decode_error("\xc6\xff\xff\xff\xff"), errc::frame_too_large);      // bin 32
  EXPECT_EQ(decode_error("\xc9\xff\xff\xff\xff\x01"), errc::frame_too_large);  // ext 32
  // With the limits off, the same headers only wait for their bytes: the
  // decoder reserves no more than the input could fill (ASan would stop a
  // 200 GB reservation).
  limits off;
  off.max_bytes = off.max_elements = std::numeric_limits<std::size_t>::max();
  for (const auto* h : {"\xdd\xff\xff\xff\xff\xc0", "\xdf\xff\xff\xff\xff\xc0\xc0",
                        "\xdb\xff\xff\xff\xff"
                        "abc",
                        "\x91\xdd\xff\xff\xff\xff"}) {
    value v;
    std::error_code ec;
    EXPECT_EQ(decode_msgpack(h, v, ec, off), 0u);
    EXPECT_FALSE(ec) << ec.message();
  }
}

TEST(msgpack, limits_on_bytes_and_values) {
  limits lim;
  lim.max_bytes = 4;
  EXPECT_EQ(decode_error("\xa5hello", lim), errc::frame_too_large);
  EXPECT_EQ(decode_all("\xa3"
                       "abc",
                       lim),
            s("abc"));
  EXPECT_EQ(decode_error("\x95\x01\x02\x03\x04\x05", lim), errc::frame_too_large);
  // Still incomplete beyond the limit: no point waiting for the rest.
  EXPECT_EQ(decode_error("\x93\xa1"
                         "a\xa1"
                         "b",
                         lim),
            errc::frame_too_large);
  lim = {};
  lim.max_elements = 4;  // the array and its elements
  EXPECT_EQ(decode_all("\x93\x01\x02\x03", lim), arr({i(1), i(2), i(3)}));
  EXPECT_EQ(decode_error("\x94\x01\x02\x03\x04", lim), errc::frame_too_large);
  EXPECT_EQ(decode_error("\x92\x91\x01\x92\x01\x02", lim), errc::frame_too_large);
  EXPECT_EQ(decode_error("\x82\x01\x02\x03\x04", lim), errc::frame_too_large);  // keys count
}

TEST(msgpack, depth_limit_both_ways) {
  const auto nested = [](std::size_t levels) {
    value v = nil();
    for (std::size_t k = 0; k < levels; ++k) v = arr({std::move(v)});
    return v;
  };
  const auto bytes = [](std::size_t levels) { return std::string(levels, '\x91') + "\xc0"; };
  both_ways(nested(64), bytes(64));
  EXPECT_EQ(decode_error(bytes(65)), errc::nesting_too_deep);
  std::string out;
  EXPECT_EQ(encode_msgpack(nested(65), out), errc::nesting_too_deep);
  EXPECT_TRUE(out.empty());
  limits lim;
  lim.max_depth = 1;
  EXPECT_EQ(decode_all("\x91\x01", lim), arr({i(1)}));
  EXPECT_EQ(decode_error("\x91\x80", lim), errc::nesting_too_deep);  // maps count as levels
  EXPECT_EQ(decode_error("\x81\x91\x01\x01", lim), errc::nesting_too_deep);
  lim.max_depth = 0;
  EXPECT_EQ(decode_all("\x01", lim), i(1));
  EXPECT_EQ(decode_error("\x90", lim), errc::nesting_too_deep);
}

TEST(framed_value, integers_compare_by_value_across_signedness) {
  EXPECT_EQ(value{std::uint64_t{5}}, i(5));
  EXPECT_EQ(i(5), value{std::uint64_t{5}});
  EXPECT_NE(i(-1), value{UINT64_MAX});
  EXPECT_NE(i(5), value{5.0});
  EXPECT_NE(value{std::nan("")}, value{std::nan("")});
  EXPECT_EQ(obj({{s("k"), value{std::uint64_t{1}}}}), obj({{s("k"), i(1)}}));
}

TEST(framed_value, utf8_as_python_takes_it) {
  EXPECT_TRUE(valid_utf8(""));
  EXPECT_TRUE(valid_utf8("plain \x7f"));
  EXPECT_TRUE(
      valid_utf8("\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"));
  EXPECT_FALSE(valid_utf8("\x80"));
  EXPECT_FALSE(valid_utf8("\xc1\xbf"));              // overlong
  EXPECT_FALSE(valid_utf8("\xe0\x9f\xbf"));          // overlong
  EXPECT_FALSE(valid_utf8("\xf0\x8f\xbf\xbf"));      // overlong
  EXPECT_FALSE(valid_utf8("\xed\xbf\xbf"));          // surrogate
  EXPECT_FALSE(valid_utf8("\xf8\x88\x80\x80\x80"));  // 5 bytes
  EXPECT_FALSE(valid_utf8("\xe2\x82"));              // cut
  EXPECT_FALSE(valid_utf8("\xe2\x28\xa1"));          // not a continuation
}

}  // namespace
}  // namespace brokerside::protocol::framed
