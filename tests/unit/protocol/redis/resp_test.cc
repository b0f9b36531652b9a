#include "protocol/redis/resp.h"

#include <gtest/gtest.h>

#include <cmath>

#include "protocol/errc.h"

namespace brokerside::protocol::redis {
namespace {

using namespace std::string_view_literals;

value decode_all(std::string_view bytes) {
  value v;
  std::error_code ec;
  const auto used = decode(bytes, v, ec);
  EXPECT_FALSE(ec) << ec.message() << " for " << bytes;
  EXPECT_EQ(used, bytes.size()) << bytes;
  return v;
}

std::error_code decode_error(std::string_view bytes, const decoder_limits& limits = {}) {
  value v;
  std::error_code ec;
  EXPECT_EQ(decode(bytes, v, ec, limits), 0u);
  return ec;
}

TEST(resp, encodes_commands_as_arrays_of_bulk_strings) {
  std::string out;
  const std::string_view args[] = {"SET", "key", "a\r\nb", ""};
  encode_command(args, out);
  EXPECT_EQ(out, "*4\r\n$3\r\nSET\r\n$3\r\nkey\r\n$4\r\na\r\nb\r\n$0\r\n\r\n");
  out.clear();
  encode_command({}, out);
  EXPECT_EQ(out, "*0\r\n");
}

TEST(resp, resp2_scalars) {
  auto v = decode_all("+OK\r\n");
  EXPECT_EQ(v.type, resp_type::simple_string);
  EXPECT_EQ(v.text, "OK");
  v = decode_all("-WRONGTYPE Operation against a key\r\n");
  EXPECT_EQ(v.type, resp_type::error);
  EXPECT_EQ(v.text, "WRONGTYPE Operation against a key");
  v = decode_all(":-42\r\n");
  EXPECT_EQ(v.type, resp_type::integer);
  EXPECT_EQ(v.integer, -42);
  v = decode_all(":9223372036854775807\r\n");
  EXPECT_EQ(v.integer, 9223372036854775807);
  v = decode_all("$5\r\nhello\r\n");
  EXPECT_EQ(v.type, resp_type::bulk_string);
  EXPECT_EQ(v.text, "hello");
  v = decode_all("$6\r\na\r\n\0b\x01\r\n"sv);  // binary safe
  EXPECT_EQ(v.text, "a\r\n\0b\x01"sv);
  v = decode_all("$0\r\n\r\n");
  EXPECT_EQ(v.type, resp_type::bulk_string);
  EXPECT_EQ(v.text, "");
  EXPECT_EQ(decode_all("$-1\r\n").type, resp_type::null);
  EXPECT_EQ(decode_all("*-1\r\n").type, resp_type::null);
}

TEST(resp, resp2_arrays_nest) {
  const auto v = decode_all("*3\r\n:1\r\n*2\r\n+a\r\n$-1\r\n$1\r\nx\r\n");
  ASSERT_EQ(v.type, resp_type::array);
  ASSERT_EQ(v.elements.size(), 3u);
  EXPECT_EQ(v.elements[0].integer, 1);
  ASSERT_EQ(v.elements[1].elements.size(), 2u);
  EXPECT_EQ(v.elements[1].elements[1].type, resp_type::null);
  EXPECT_EQ(v.elements[2].text, "x");
  EXPECT_TRUE(decode_all("*0\r\n").elements.empty());
}

TEST(resp, resp3_types) {
  EXPECT_EQ(decode_all("_\r\n").type, resp_type::null);
  auto v = decode_all(",3.25\r\n");
  EXPECT_EQ(v.type, resp_type::double_value);
  EXPECT_DOUBLE_EQ(v.number, 3.25);
  EXPECT_TRUE(std::isinf(decode_all(",inf\r\n").number));
  EXPECT_LT(decode_all(",-inf\r\n").number, 0);
  EXPECT_TRUE(std::isnan(decode_all(",nan\r\n").number));
  EXPECT_DOUBLE_EQ(decode_all(",1e3\r\n").number, 1000);
  v = decode_all("#t\r\n");
  EXPECT_EQ(v.type, resp_type::boolean);
  EXPECT_TRUE(v.boolean);
  EXPECT_FALSE(decode_all("#f\r\n").boolean);
  v = decode_all("(3492890328409238509324850943850943825024385\r\n");
  EXPECT_EQ(v.type, resp_type::big_number);
  EXPECT_EQ(v.text, "3492890328409238509324850943850943825024385");
  EXPECT_EQ(decode_all("(-12\r\n").text, "-12");
  v = decode_all("!21\r\nSYNTAX invalid syntax\r\n");
  EXPECT_EQ(v.type, resp_type::error);
  EXPECT_EQ(v.text, "SYNTAX invalid syntax");
  v = decode_all("=15\r\ntxt:Some string\r\n");
  EXPECT_EQ(v.type, resp_type::verbatim);
  EXPECT_EQ(v.text, "Some string");
}

TEST(resp, resp3_aggregates) {
  auto v = decode_all("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n");
  ASSERT_EQ(v.type, resp_type::map);
  ASSERT_EQ(v.elements.size(), 4u);
  EXPECT_EQ(v.elements[0].text, "first");
  EXPECT_EQ(v.elements[3].integer, 2);
  v = decode_all("~2\r\n+a\r\n+b\r\n");
  EXPECT_EQ(v.type, resp_type::set);
  EXPECT_EQ(v.elements.size(), 2u);
  v = decode_all(">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n");
  EXPECT_EQ(v.type, resp_type::push);
  EXPECT_EQ(v.elements[2].text, "hi");
}

TEST(resp, attributes_are_skipped) {
  const auto v = decode_all("|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n:42\r\n");
  EXPECT_EQ(v.type, resp_type::integer);
  EXPECT_EQ(v.integer, 42);
}

TEST(resp, partial_input_asks_for_more_at_every_split) {
  const std::string whole = "*3\r\n$5\r\nhello\r\n%1\r\n+k\r\n,1.5\r\n:7\r\n";
  for (std::size_t cut = 0; cut < whole.size(); ++cut) {
    value v;
    std::error_code ec;
    EXPECT_EQ(decode(std::string_view(whole).substr(0, cut), v, ec), 0u) << cut;
    EXPECT_FALSE(ec) << cut << ": " << ec.message();
  }
  EXPECT_EQ(decode_all(whole).elements.size(), 3u);
}

TEST(resp, pipelined_replies_decode_one_at_a_time) {
  const std::string_view stream = "+OK\r\n:1\r\n$2\r\nab\r\n";
  value v;
  std::error_code ec;
  auto used = decode(stream, v, ec);
  EXPECT_EQ(used, 5u);
  EXPECT_EQ(v.text, "OK");
  used += decode(stream.substr(used), v, ec);
  EXPECT_EQ(v.integer, 1);
  used += decode(stream.substr(used), v, ec);
  EXPECT_EQ(v.text, "ab");
  EXPECT_EQ(used, stream.size());
}

TEST(resp, malformed_input_is_an_error) {
  for (const auto bytes : {"?\r\n"sv, ":12a\r\n"sv, ":\r\n"sv, "$-2\r\n"sv, "$3\r\nabcd\r\n"sv,
                           "*-2\r\n"sv, "#x\r\n"sv, ",abc\r\n"sv, "(12x\r\n"sv, "_x\r\n"sv,
                           "=3\r\nabc\r\n"sv, "|-1\r\n"sv, "*1\r\n?\r\n"sv, "$+3\r\nabc\r\n"sv}) {
    EXPECT_EQ(decode_error(bytes), make_error_code(errc::malformed_frame)) << bytes;
  }
  // A long run of bytes without a line end is not RESP.
  EXPECT_EQ(decode_error("+" + std::string(70'000, 'x')), make_error_code(errc::malformed_frame));
}

TEST(resp, limits) {
  decoder_limits small;
  small.max_reply_bytes = 100;
  small.max_depth = 3;
  EXPECT_EQ(decode_error("$101\r\n", small), make_error_code(errc::frame_too_large));
  EXPECT_EQ(decode_error("*34\r\n", small), make_error_code(errc::frame_too_large));
  EXPECT_EQ(decode_error("*9223372036854775807\r\n"), make_error_code(errc::frame_too_large));
  EXPECT_EQ(decode_error("%4611686018427387904\r\n"), make_error_code(errc::frame_too_large));
  EXPECT_EQ(decode_error("*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", small),
            make_error_code(errc::nesting_too_deep));
  // Many small elements that together pass the limit.
  std::string many = "*30\r\n";
  for (int i = 0; i < 30; ++i) many += ":1\r\n";
  EXPECT_EQ(decode_error(many, small), make_error_code(errc::frame_too_large));
  // A partial reply already bigger than the limit will not fit either.
  const std::string element = "$45\r\n" + std::string(45, 'x') + "\r\n";
  EXPECT_EQ(decode_error("*3\r\n" + element + element, small),
            make_error_code(errc::frame_too_large));
}

// Feeds `whole` to a scanner one byte more each time, as reads would arrive.
std::size_t scan_bytewise(std::string_view whole, std::error_code& ec,
                          const decoder_limits& limits = {}) {
  reply_scanner scanner(limits);
  for (std::size_t have = 1; have <= whole.size(); ++have) {
    const auto length = scanner.scan(whole.substr(0, have), ec);
    if (ec || length != 0) return length;
  }
  return 0;
}

TEST(resp_scanner, finds_where_each_reply_ends_however_it_arrives) {
  for (const auto reply :
       {"+OK\r\n"sv, "$5\r\nhello\r\n"sv, "$-1\r\n"sv, "*-1\r\n"sv, "*0\r\n"sv,
        "*3\r\n$5\r\nhello\r\n%1\r\n+k\r\n,1.5\r\n:7\r\n"sv, "=8\r\ntxt:a\r\nb\r\n"sv,
        "|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n:42\r\n"sv,
        "*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n"sv, "|0\r\n:5\r\n"sv, ">2\r\n+m\r\n*0\r\n"sv,
        "~2\r\n#t\r\n_\r\n"sv, "!3\r\nERR\r\n"sv}) {
    std::error_code ec;
    EXPECT_EQ(scan_bytewise(reply, ec), reply.size()) << reply;
    EXPECT_FALSE(ec) << reply;
    // ... and decode() agrees.
    EXPECT_EQ(decode_all(reply).type == resp_type::null, reply[1] == '-' || reply == "_\r\n")
        << reply;
  }
}

TEST(resp_scanner, pipelined_replies_one_after_another) {
  const std::string_view stream = "+OK\r\n*2\r\n:1\r\n$2\r\nab\r\n:3\r\n";
  reply_scanner scanner;
  std::error_code ec;
  std::vector<std::size_t> lengths;
  for (std::size_t at = 0; at < stream.size();) {
    const auto length = scanner.scan(stream.substr(at), ec);
    ASSERT_FALSE(ec);
    ASSERT_GT(length, 0u);
    lengths.push_back(length);
    at += length;
  }
  EXPECT_EQ(lengths, (std::vector<std::size_t>{5, 16, 4}));
}

TEST(resp_scanner, refuses_early_what_decode_would_refuse) {
  decoder_limits small;
  small.max_reply_bytes = 100;
  small.max_depth = 3;
  std::error_code ec;
  // A declared length beyond the limit is refused before its bytes arrive.
  reply_scanner scanner(small);
  EXPECT_EQ(scanner.scan("$101\r\n", ec), 0u);
  EXPECT_EQ(ec, make_error_code(errc::frame_too_large));
  EXPECT_EQ(scan_bytewise("*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", ec, small), 0u);
  EXPECT_EQ(ec, make_error_code(errc::nesting_too_deep));
  std::string many = "*30\r\n";
  for (int i = 0; i < 30; ++i) many += ":1\r\n";
  EXPECT_EQ(scan_bytewise(many, ec, small), 0u);
  EXPECT_EQ(ec, make_error_code(errc::frame_too_large));
  for (const auto bytes : {"?\r\n"sv, "$-2\r\n"sv, "*-2\r\n"sv, "|-1\r\n"sv, "~-1\r\n"sv,
                           "*1\r\n?\r\n"sv, "$x\r\n"sv}) {
    EXPECT_EQ(scan_bytewise(bytes, ec), 0u) << bytes;
    EXPECT_EQ(ec, make_error_code(errc::malformed_frame)) << bytes;
  }
}

TEST(resp_scanner, a_large_reply_in_many_reads_is_scanned_once) {
  // 2,000 elements arriving 7 bytes at a time: the scanner resumes where it
  // stopped. (Each call costs what arrived since the last one; decode() from
  // the start each time would walk ~2,000 elements per call.)
  std::string reply = "*2000\r\n";
  for (int i = 0; i < 2000; ++i) reply += "$3\r\nabc\r\n";
  reply_scanner scanner;
  std::error_code ec;
  std::size_t length = 0;
  for (std::size_t have = 7; length == 0 && have < reply.size() + 7; have += 7) {
    length = scanner.scan(std::string_view(reply).substr(0, std::min(have, reply.size())), ec);
    ASSERT_FALSE(ec);
  }
  EXPECT_EQ(length, reply.size());
  EXPECT_EQ(decode_all(reply).elements.size(), 2000u);
}

}  // namespace
}  // namespace brokerside::protocol::redis
