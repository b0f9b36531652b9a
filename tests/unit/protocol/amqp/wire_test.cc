#include "protocol/amqp/wire.h"

#include <gtest/gtest.h>

#include "protocol/errc.h"

namespace brokerside::protocol::amqp {
namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;

TEST(amqp_wire, integers_are_big_endian) {
  std::string out;
  writer w(out);
  w.u8(0x01);
  w.u16(0x0203);
  w.u32(0x04050607);
  w.u64(0x08090A0B0C0D0E0F);
  EXPECT_EQ(out, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0A\x0B\x0C\x0D\x0E\x0F"sv);
  reader r(out);
  std::uint8_t a = 0;
  std::uint16_t b = 0;
  std::uint32_t c = 0;
  std::uint64_t d = 0;
  ASSERT_TRUE(r.u8(a) && r.u16(b) && r.u32(c) && r.u64(d));
  EXPECT_EQ(a, 0x01);
  EXPECT_EQ(b, 0x0203);
  EXPECT_EQ(c, 0x04050607u);
  EXPECT_EQ(d, 0x08090A0B0C0D0E0Fu);
  EXPECT_TRUE(r.at_end());
}

TEST(amqp_wire, strings_carry_their_length) {
  std::string out;
  writer w(out);
  EXPECT_TRUE(w.shortstr("abc") && w.longstr("de"));
  EXPECT_EQ(out,
            "\x03"
            "abc\x00\x00\x00\x02"
            "de"sv);
  reader r(out);
  std::string s1, s2;
  ASSERT_TRUE(r.shortstr(s1) && r.longstr(s2));
  EXPECT_EQ(s1, "abc");
  EXPECT_EQ(s2, "de");
}

TEST(amqp_wire, a_shortstr_beyond_255_bytes_is_refused) {
  std::string out;
  writer w(out);
  EXPECT_TRUE(w.shortstr(std::string(255, 's')));
  EXPECT_FALSE(w.shortstr(std::string(256, 's')));
  EXPECT_EQ(w.error(), errc::field_too_long);
  EXPECT_EQ(out.size(), 256u);  // nothing of the refused one
}

TEST(amqp_wire, patch_u32_overwrites_in_place) {
  std::string out = "ab\x00\x00\x00\x00yz"s;
  patch_u32(out, 2, 0xDEADBEEF);
  EXPECT_EQ(out, "ab\xDE\xAD\xBE\xEFyz"sv);
}

TEST(amqp_wire, consecutive_bits_share_an_octet_lowest_first) {
  std::string out;
  writer w(out);
  // Nine bits take two octets; a non-bit field closes the octet.
  for (int i = 0; i < 9; ++i) w.bit(i % 4 == 0);
  w.u8(0x7F);
  w.bit(true);
  EXPECT_EQ(out, "\x11\x01\x7F\x01"sv);

  reader r(out);
  bool b = false;
  std::string bits;
  for (int i = 0; i < 9; ++i) {
    ASSERT_TRUE(r.bit(b));
    bits += b ? '1' : '0';
  }
  EXPECT_EQ(bits, "100010001");
  std::uint8_t octet = 0;
  EXPECT_TRUE(r.u8(octet) && r.bit(b) && b);
  EXPECT_TRUE(r.at_end());
  // The rest of the open octet can be read; a bit past it cannot.
  for (int i = 0; i < 7; ++i) EXPECT_TRUE(r.bit(b) && !b);
  EXPECT_FALSE(r.bit(b));
  EXPECT_EQ(r.error(), errc::malformed_frame);
}

TEST(amqp_wire, reader_fails_for_good_after_an_error) {
  reader r(
      "\x00\x05"
      "ab"sv);
  std::string s;
  std::uint8_t octet = 0;
  EXPECT_FALSE(r.longstr(s));
  EXPECT_EQ(r.error(), errc::malformed_frame);
  EXPECT_FALSE(r.u8(octet));
}

}  // namespace
}  // namespace brokerside::protocol::amqp
