#include "protocol/amqp/field_table.h"

#include <gtest/gtest.h>

#include <cmath>

#include "protocol/errc.h"
#include "tests/unit/protocol/amqp/bytes.h"

namespace brokerside::protocol::amqp {
namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;
namespace t = test;

std::string entry(std::string_view name, char type, std::string_view value) {
  return t::shortstr(name) + type + std::string(value);
}

// One of every RabbitMQ field type, as a value and as the spec's bytes.
field_table every_type() {
  return {
      {"void", {std::monostate{}}},
      {"bool", {true}},
      {"i8", {std::int8_t{-2}}},
      {"u8", {std::uint8_t{200}}},
      {"i16", {std::int16_t{-300}}},
      {"u16", {std::uint16_t{65000}}},
      {"i32", {std::int32_t{-70000}}},
      {"u32", {std::uint32_t{4000000000u}}},
      {"i64", {std::int64_t{-5000000000}}},
      {"f32", {1.5f}},
      {"f64", {-0.25}},
      {"dec", {decimal{2, 12345}}},
      {"str", {"hello"s}},
      {"arr", {field_array{{std::int32_t{1}}, {"x"s}, {std::monostate{}}}}},
      {"ts", {timestamp{1700000000}}},
      {"tbl", {field_table{{"k", {false}}}}},
      {"bin", {byte_array{"\x00\xFF"s}}},
  };
}

std::string every_type_bytes() {
  return t::sized(
      entry("void", 'V', "") + entry("bool", 't', "\x01") + entry("i8", 'b', "\xFE") +
      entry("u8", 'B', "\xC8") + entry("i16", 's', "\xFE\xD4") + entry("u16", 'u', "\xFD\xE8") +
      entry("i32", 'I', t::u32(static_cast<std::uint32_t>(-70000))) +
      entry("u32", 'i', t::u32(4000000000u)) +
      entry("i64", 'l', t::u64(static_cast<std::uint64_t>(-5000000000))) +
      entry("f32", 'f', "\x3F\xC0\x00\x00"s) +
      entry("f64", 'd', "\xBF\xD0\x00\x00\x00\x00\x00\x00"s) +
      entry("dec", 'D', "\x02\x00\x00\x30\x39"s) + entry("str", 'S', t::longstr("hello")) +
      entry("arr", 'A', t::sized("I"s + t::u32(1) + "S" + t::longstr("x") + "V")) +
      entry("ts", 'T', t::u64(1700000000)) + entry("tbl", 'F', t::sized(entry("k", 't', "\x00"s))) +
      entry("bin", 'x', t::longstr("\x00\xFF"s)));
}

field_table decode_ok(std::string_view bytes) {
  field_table table;
  EXPECT_EQ(decode_table(bytes, table), std::error_code{});
  return table;
}

TEST(amqp_field_table, encodes_every_type_byte_for_byte) {
  std::string out = "keep";
  EXPECT_EQ(encode_table(every_type(), out), std::error_code{});
  EXPECT_EQ(out, "keep" + every_type_bytes());
}

TEST(amqp_field_table, decodes_every_type) {
  const auto table = decode_ok(every_type_bytes());
  EXPECT_EQ(table, every_type());
  EXPECT_EQ(std::get<std::int16_t>(table[4].value), -300);
  EXPECT_EQ(std::get<double>(table[10].value), -0.25);
}

TEST(amqp_field_table, type_letters_follow_rabbitmq) {
  std::string letters;
  for (const auto& [name, value] : every_type()) letters += type_letter(value);
  EXPECT_EQ(letters, "VtbBsuIilfdDSATFx");
}

TEST(amqp_field_table, empty_table_is_four_zero_bytes) {
  std::string out;
  EXPECT_EQ(encode_table({}, out), std::error_code{});
  EXPECT_EQ(out, "\x00\x00\x00\x00"sv);
  EXPECT_TRUE(decode_ok(out).empty());
}

TEST(amqp_field_table, order_and_duplicates_are_kept) {
  const field_table table{{"b", {std::int32_t{1}}}, {"a", {std::int32_t{2}}}, {"b", {true}}};
  std::string out;
  ASSERT_FALSE(encode_table(table, out));
  EXPECT_EQ(decode_ok(out), table);
}

TEST(amqp_field_table, reads_what_rabbitmq_reads) {
  // 'L' (the XML's unsigned 64) is a signed 64 to RabbitMQ; any non-zero
  // octet is true.
  const auto table = decode_ok(t::sized(entry("L", 'L', t::u64(~0ull)) + entry("t", 't', "\x02")));
  EXPECT_EQ(std::get<std::int64_t>(table[0].value), -1);
  EXPECT_EQ(std::get<bool>(table[1].value), true);
}

TEST(amqp_field_table, floats_keep_their_bits) {
  const field_table table{{"nan", {std::nan("")}}, {"neg0", {-0.0f}}, {"inf", {HUGE_VAL}}};
  std::string out;
  ASSERT_FALSE(encode_table(table, out));
  const auto back = decode_ok(out);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_TRUE(std::isnan(std::get<double>(back[0].value)));
  EXPECT_TRUE(std::signbit(std::get<float>(back[1].value)));
  EXPECT_TRUE(std::isinf(std::get<double>(back[2].value)));
}

TEST(amqp_field_table, unknown_type_is_malformed) {
  // 'U' is the 0-9-1 XML's short-int, which RabbitMQ does not know either.
  for (const char type : {'U', 'Z', 'z', '\0'}) {
    field_table table;
    EXPECT_EQ(decode_table(t::sized(entry("k", type, "\x00\x01")), table), errc::malformed_frame)
        << type;
  }
}

TEST(amqp_field_table, truncated_at_every_offset_is_malformed) {
  const auto bytes = every_type_bytes();
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    field_table table;
    EXPECT_EQ(decode_table(std::string_view(bytes).substr(0, cut), table), errc::malformed_frame)
        << cut;
    EXPECT_TRUE(table.empty()) << cut;
  }
}

TEST(amqp_field_table, lengths_beyond_their_table_are_malformed) {
  field_table table;
  // A name of 5 bytes in a table of 3.
  EXPECT_EQ(decode_table(t::u32(3) + "\x05"
                                     "ab",
                         table),
            errc::malformed_frame);
  // A long string running past its table's end, though not past the input.
  const auto inner = entry("s", 'S', t::u32(10) + "abc");
  EXPECT_EQ(decode_table(t::sized(inner) + "0123456789", table), errc::malformed_frame);
  // An array whose entries overrun their own length.
  EXPECT_EQ(decode_table(t::sized(entry("a", 'A', t::u32(2) + "I" + t::u32(1))), table),
            errc::malformed_frame);
  // Bytes after the table.
  EXPECT_EQ(decode_table(t::sized("") + "x", table), errc::malformed_frame);
}

field_table nested(std::size_t depth) {
  field_table table;
  for (std::size_t i = 1; i < depth; ++i) table = field_table{{"n", {std::move(table)}}};
  return table;
}

TEST(amqp_field_table, nesting_is_limited_both_ways) {
  std::string out;
  ASSERT_EQ(encode_table(nested(max_nesting), out), std::error_code{});
  EXPECT_EQ(decode_ok(out), nested(max_nesting));
  // One level deeper: refused on encode; on decode too, when hand-made.
  std::string deeper;
  EXPECT_EQ(encode_table(nested(max_nesting + 1), deeper), errc::nesting_too_deep);
  EXPECT_TRUE(deeper.empty());
  deeper = t::sized("");
  for (std::size_t i = 0; i < max_nesting; ++i) deeper = t::sized(entry("n", 'F', deeper));
  field_table table;
  EXPECT_EQ(decode_table(deeper, table), errc::nesting_too_deep);
  // Arrays count as levels too.
  deeper = t::sized("");
  for (std::size_t i = 0; i < max_nesting; ++i) deeper = t::sized("A" + deeper);
  EXPECT_EQ(decode_table(t::sized(entry("a", 'A', deeper)), table), errc::nesting_too_deep);
}

TEST(amqp_field_table, a_name_beyond_255_bytes_is_refused) {
  std::string out = "keep";
  EXPECT_EQ(encode_table({{std::string(256, 'n'), {true}}}, out), errc::field_too_long);
  EXPECT_EQ(out, "keep");
  EXPECT_FALSE(encode_table({{std::string(255, 'n'), {true}}}, out));
}

}  // namespace
}  // namespace brokerside::protocol::amqp
