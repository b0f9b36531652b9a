#include "protocol/amqp/frame.h"

#include <gtest/gtest.h>

#include <vector>

#include "protocol/errc.h"
#include "tests/unit/protocol/amqp/bytes.h"

namespace brokerside::protocol::amqp {
namespace {

using namespace std::string_view_literals;

std::error_code decode_error(std::string_view bytes, std::uint32_t frame_max = 4096) {
  frame f;
  std::error_code ec;
  EXPECT_EQ(decode_frame(bytes, f, ec, frame_max), 0u);
  return ec;
}

TEST(amqp_frame, protocol_header_is_amqp_0_9_1) {
  EXPECT_EQ(protocol_header, "AMQP\x00\x00\x09\x01"sv);
  EXPECT_EQ(protocol_header.size(), 8u);
}

TEST(amqp_frame, decodes_a_heartbeat) {
  frame f;
  std::error_code ec;
  EXPECT_EQ(decode_frame("\x08\x00\x00\x00\x00\x00\x00\xCE"sv, f, ec, 4096), 8u);
  EXPECT_FALSE(ec);
  EXPECT_EQ(f.type, frame_type::heartbeat);
  EXPECT_EQ(f.channel, 0);
  EXPECT_TRUE(f.payload.empty());
}

TEST(amqp_frame, decodes_one_frame_and_leaves_the_next) {
  // A method frame on channel 0x0102 with 5 payload bytes, then a heartbeat.
  const auto bytes = "\x01\x01\x02\x00\x00\x00\x05hello\xCE\x08\x00\x00\x00\x00\x00\x00\xCE"sv;
  frame f;
  std::error_code ec;
  const auto used = decode_frame(bytes, f, ec, 4096);
  EXPECT_FALSE(ec);
  EXPECT_EQ(used, 13u);
  EXPECT_EQ(f.type, frame_type::method);
  EXPECT_EQ(f.channel, 0x0102);
  EXPECT_EQ(f.payload, "hello");
  EXPECT_EQ(f.payload.data(), bytes.data() + 7);  // no copy
  EXPECT_EQ(decode_frame(bytes.substr(used), f, ec, 4096), 8u);
  EXPECT_EQ(f.type, frame_type::heartbeat);
}

TEST(amqp_frame, every_type_decodes) {
  for (const std::uint8_t type : {1, 2, 3}) {
    const auto bytes = test::frame_bytes(type, 7, "xyz");
    frame f;
    std::error_code ec;
    EXPECT_EQ(decode_frame(bytes, f, ec, 4096), bytes.size());
    EXPECT_EQ(static_cast<std::uint8_t>(f.type), type);
    EXPECT_EQ(f.channel, 7);
  }
}

TEST(amqp_frame, truncated_at_every_offset_asks_for_more) {
  const auto bytes = test::frame_bytes(3, 1, "some body bytes");
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    frame f;
    std::error_code ec;
    EXPECT_EQ(decode_frame(std::string_view(bytes).substr(0, cut), f, ec, 4096), 0u) << cut;
    EXPECT_FALSE(ec) << cut << ": " << ec.message();
  }
}

TEST(amqp_frame, bad_frame_end_is_malformed) {
  auto bytes = test::frame_bytes(1, 0, "abc");
  bytes.back() = '\xCD';
  EXPECT_EQ(decode_error(bytes), errc::malformed_frame);
}

TEST(amqp_frame, unknown_type_is_malformed_from_its_first_byte) {
  for (const char type : {'\x00', '\x04', '\x07', '\x09', '\xCE', '\xFF'}) {
    EXPECT_EQ(decode_error(std::string_view(&type, 1)), errc::malformed_frame) << int(type);
  }
}

TEST(amqp_frame, heartbeat_with_payload_is_malformed) {
  EXPECT_EQ(decode_error(test::frame_bytes(8, 0, "x")), errc::malformed_frame);
}

TEST(amqp_frame, frame_max_counts_the_overhead) {
  // 4088 payload bytes + 8 = 4096: fits exactly.
  const auto fits = test::frame_bytes(3, 1, std::string(4088, 'b'));
  frame f;
  std::error_code ec;
  EXPECT_EQ(decode_frame(fits, f, ec, 4096), 4096u);
  EXPECT_FALSE(ec);
  // One more byte is refused from the 7 header bytes alone.
  EXPECT_EQ(decode_error("\x03\x00\x01\x00\x00\x0F\xF9"sv, 4096), errc::frame_too_large);
  EXPECT_EQ(decode_error("\x01\x00\x00\xFF\xFF\xFF\xFF"sv, 131072), errc::frame_too_large);
}

TEST(amqp_frame, frame_max_zero_means_no_limit) {
  // A 4 GiB frame is only incomplete.
  EXPECT_EQ(decode_error("\x03\x00\x01\xFF\xFF\xFF\xFF"sv, 0), std::error_code{});
  const auto big = test::frame_bytes(3, 1, std::string(70'000, 'b'));
  frame f;
  std::error_code ec;
  EXPECT_EQ(decode_frame(big, f, ec, 0), big.size());
}

TEST(amqp_frame, a_protocol_header_reply_is_unsupported) {
  // A broker refusing 0-9-1 answers with the header of what it speaks.
  EXPECT_EQ(decode_error("AMQP\x00\x00\x09\x01"sv), errc::unsupported);
  EXPECT_EQ(decode_error("AMQP\x01\x01\x00\x0A"sv), errc::unsupported);  // 0-10
  EXPECT_EQ(decode_error("AMQP\x00\x01\x00\x00trailing"sv), errc::unsupported);
  // Part of one: wait for the rest.
  for (const auto part : {"A"sv, "AM"sv, "AMQ"sv, "AMQP"sv, "AMQP\x00\x00\x09"sv}) {
    EXPECT_EQ(decode_error(part), std::error_code{}) << part;
  }
  EXPECT_EQ(decode_error("AMXP\x00\x00\x09\x01"sv), errc::malformed_frame);
  EXPECT_EQ(decode_error("AB"sv), errc::malformed_frame);
}

TEST(amqp_frame, append_frame_writes_header_payload_and_end) {
  std::string out = "keep";
  append_frame(out, frame_type::method, 5, "abc");
  EXPECT_EQ(out,
            "keep\x01\x00\x05\x00\x00\x00\x03"
            "abc\xCE"sv);
  out.clear();
  append_heartbeat(out);
  EXPECT_EQ(out, "\x08\x00\x00\x00\x00\x00\x00\xCE"sv);
}

TEST(amqp_frame, begin_and_end_frame_fill_in_the_size) {
  std::string out;
  const auto start = begin_frame(out, frame_type::body, 0xFFFF);
  out += std::string(300, 'z');
  end_frame(out, start);
  EXPECT_EQ(out, test::frame_bytes(3, 0xFFFF, std::string(300, 'z')));
}

TEST(amqp_frame, appended_frames_decode_in_sequence) {
  std::string stream;
  append_frame(stream, frame_type::method, 1, "m");
  append_frame(stream, frame_type::header, 1, "hh");
  append_frame(stream, frame_type::body, 1, "");
  append_heartbeat(stream);
  std::string_view rest = stream;
  std::vector<frame_type> types;
  while (!rest.empty()) {
    frame f;
    std::error_code ec;
    const auto used = decode_frame(rest, f, ec, 4096);
    ASSERT_FALSE(ec);
    ASSERT_GT(used, 0u);
    types.push_back(f.type);
    rest.remove_prefix(used);
  }
  EXPECT_EQ(types, (std::vector{frame_type::method, frame_type::header, frame_type::body,
                                frame_type::heartbeat}));
}

}  // namespace
}  // namespace brokerside::protocol::amqp
