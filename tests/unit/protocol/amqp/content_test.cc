#include "protocol/amqp/content.h"

#include <gtest/gtest.h>

#include <vector>

#include "protocol/amqp/frame.h"
#include "protocol/amqp/methods.h"
#include "protocol/errc.h"
#include "tests/unit/protocol/amqp/bytes.h"

namespace brokerside::protocol::amqp {
namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;
namespace t = test;

std::string header_prefix(std::uint64_t body_size, std::uint16_t flags) {
  return t::u16(60) + t::u16(0) + t::u64(body_size) + t::u16(flags);
}

basic_properties all_properties() {
  basic_properties p;
  p.content_type = "application/json";
  p.content_encoding = "gzip";
  p.headers = field_table{{"x-retries", {std::int32_t{3}}}};
  p.delivery_mode = 2;
  p.priority = 9;
  p.correlation_id = "corr";
  p.reply_to = "amq.rabbitmq.reply-to";
  p.expiration = "60000";
  p.message_id = "id-1";
  p.timestamp = 1700000000;
  p.type = "order.created";
  p.user_id = "guest";
  p.app_id = "brokerside";
  p.cluster_id = "c1";
  return p;
}

content_header decode_ok(std::string_view payload) {
  content_header h;
  EXPECT_EQ(decode_content_header(payload, h), std::error_code{});
  return h;
}

TEST(amqp_content, header_with_two_properties_byte_for_byte) {
  basic_properties p;
  p.content_type = "text/plain";
  p.delivery_mode = 2;
  // content_type is bit 15, delivery_mode bit 12.
  const auto expected = header_prefix(10, 0x9000) + t::shortstr("text/plain") + "\x02";
  std::string out;
  ASSERT_EQ(encode_content_header(10, p, out), std::error_code{});
  EXPECT_EQ(out, expected);
  const auto h = decode_ok(expected);
  EXPECT_EQ(h.body_size, 10u);
  EXPECT_EQ(h.properties, p);
}

TEST(amqp_content, every_property_in_order) {
  const auto expected = header_prefix(5, 0xFFFC) + t::shortstr("application/json") +
                        t::shortstr("gzip") + t::sized(t::shortstr("x-retries") + "I" + t::u32(3)) +
                        "\x02\x09" + t::shortstr("corr") + t::shortstr("amq.rabbitmq.reply-to") +
                        t::shortstr("60000") + t::shortstr("id-1") + t::u64(1700000000) +
                        t::shortstr("order.created") + t::shortstr("guest") +
                        t::shortstr("brokerside") + t::shortstr("c1");
  std::string out;
  ASSERT_EQ(encode_content_header(5, all_properties(), out), std::error_code{});
  EXPECT_EQ(out, expected);
  EXPECT_EQ(decode_ok(expected).properties, all_properties());
}

TEST(amqp_content, no_properties) {
  std::string out;
  ASSERT_EQ(encode_content_header(0, {}, out), std::error_code{});
  EXPECT_EQ(out, header_prefix(0, 0));
  EXPECT_EQ(decode_ok(out), content_header{});
}

TEST(amqp_content, each_property_alone_round_trips) {
  const auto all = all_properties();
  for (int i = 0; i < 14; ++i) {
    // Keep only the i-th property: clear the others through a fresh copy.
    basic_properties p;
    int n = 0;
    auto keep = [&](auto& to, const auto& from) {
      if (n++ == i) to = from;
    };
    keep(p.content_type, all.content_type);
    keep(p.content_encoding, all.content_encoding);
    keep(p.headers, all.headers);
    keep(p.delivery_mode, all.delivery_mode);
    keep(p.priority, all.priority);
    keep(p.correlation_id, all.correlation_id);
    keep(p.reply_to, all.reply_to);
    keep(p.expiration, all.expiration);
    keep(p.message_id, all.message_id);
    keep(p.timestamp, all.timestamp);
    keep(p.type, all.type);
    keep(p.user_id, all.user_id);
    keep(p.app_id, all.app_id);
    keep(p.cluster_id, all.cluster_id);
    std::string out;
    ASSERT_EQ(encode_content_header(1, p, out), std::error_code{});
    EXPECT_EQ(out.substr(12, 2), t::u16(static_cast<std::uint16_t>(0x8000 >> i))) << i;
    EXPECT_EQ(decode_ok(out).properties, p) << i;
  }
}

TEST(amqp_content, malformed_headers) {
  content_header h;
  // The continuation bit would announce properties basic does not have.
  EXPECT_EQ(decode_content_header(header_prefix(0, 0x0001), h), errc::malformed_frame);
  EXPECT_EQ(decode_content_header(t::u16(50) + t::u16(0) + t::u64(0) + t::u16(0), h),
            errc::unsupported);
  EXPECT_EQ(decode_content_header(header_prefix(0, 0) + "x", h), errc::malformed_frame);
  EXPECT_EQ(decode_content_header(header_prefix(0, 0x8000) + "\x09"
                                                             "text",
                                  h),
            errc::malformed_frame);
  // The weight is unused; RabbitMQ ignores it, so do we.
  EXPECT_EQ(decode_content_header(t::u16(60) + t::u16(7) + t::u64(0) + t::u16(0), h),
            std::error_code{});
}

TEST(amqp_content, truncated_at_every_offset_is_malformed) {
  std::string bytes;
  ASSERT_FALSE(encode_content_header(123, all_properties(), bytes));
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    content_header h;
    h.body_size = 77;
    EXPECT_EQ(decode_content_header(std::string_view(bytes).substr(0, cut), h),
              errc::malformed_frame)
        << cut;
    EXPECT_EQ(h.body_size, 77u) << cut;
  }
}

TEST(amqp_content, a_long_short_string_is_refused) {
  basic_properties p;
  p.message_id = std::string(256, 'm');
  std::string out = "keep";
  EXPECT_EQ(encode_content_header(0, p, out), errc::field_too_long);
  EXPECT_EQ(out, "keep");
}

std::vector<frame> split(std::string_view stream, std::uint32_t frame_max) {
  std::vector<frame> frames;
  while (!stream.empty()) {
    frame f;
    std::error_code ec;
    const auto used = decode_frame(stream, f, ec, frame_max);
    EXPECT_FALSE(ec) << ec.message();
    if (used == 0) break;
    frames.push_back(f);
    stream.remove_prefix(used);
  }
  return frames;
}

TEST(amqp_content, publish_splits_the_body_at_frame_max) {
  // frame_max 4096: 4088 payload bytes per body frame, so 5000 bytes take two.
  std::string body(5000, 'a');
  body[4087] = 'y';
  body[4088] = 'z';
  basic_properties p;
  p.delivery_mode = 2;
  std::string out;
  ASSERT_EQ(append_publish(out, 1, {"ex", "rk"}, p, body, 4096), std::error_code{});
  const auto expected =
      t::frame_bytes(
          1, 1,
          t::u16(60) + t::u16(40) + t::u16(0) + t::shortstr("ex") + t::shortstr("rk") + "\x00"s) +
      t::frame_bytes(2, 1, header_prefix(5000, 0x1000) + "\x02") +
      t::frame_bytes(3, 1, body.substr(0, 4088)) + t::frame_bytes(3, 1, body.substr(4088));
  EXPECT_EQ(out, expected);
  const auto frames = split(out, 4096);
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_EQ(frames[2].payload.size(), 4088u);
  EXPECT_EQ(frames[2].payload.back(), 'y');
  EXPECT_EQ(frames[3].payload.front(), 'z');
}

TEST(amqp_content, body_frame_counts) {
  const basic_publish publish{"", "q"};
  for (const auto& [size, frames] : std::vector<std::pair<std::size_t, std::size_t>>{
           {0, 2}, {1, 3}, {4088, 3}, {4089, 4}, {3 * 4088, 5}}) {
    std::string out;
    ASSERT_FALSE(append_publish(out, 9, publish, {}, std::string(size, 'b'), 4096));
    const auto decoded = split(out, 4096);
    EXPECT_EQ(decoded.size(), frames) << size;
    std::size_t body = 0;
    for (std::size_t i = 2; i < decoded.size(); ++i) body += decoded[i].payload.size();
    EXPECT_EQ(body, size);
  }
  // frame_max 0: no limit, one body frame.
  std::string out;
  ASSERT_FALSE(append_publish(out, 9, publish, {}, std::string(100'000, 'b'), 0));
  EXPECT_EQ(split(out, 0).size(), 3u);
}

TEST(amqp_content, publish_fails_whole) {
  basic_properties big;
  big.headers = field_table{{"blob", {std::string(5000, 'x')}}};
  std::string out = "keep";
  EXPECT_EQ(append_publish(out, 1, {}, big, "body", 4096), errc::frame_too_large);
  EXPECT_EQ(append_publish(out, 1, {"", std::string(256, 'k')}, {}, "body", 4096),
            errc::field_too_long);
  basic_properties bad;
  bad.type = std::string(300, 't');
  EXPECT_EQ(append_publish(out, 1, {}, bad, "body", 4096), errc::field_too_long);
  EXPECT_EQ(append_publish(out, 1, {}, {}, "body", 16), errc::frame_too_large);
  EXPECT_EQ(out, "keep");
}

TEST(amqp_content, a_delivery_as_rabbitmq_sends_it) {
  const auto stream =
      t::frame_bytes(1, 1,
                     t::u16(60) + t::u16(60) + t::shortstr("amq.ctag-1") + t::u64(5) + "\x00"s +
                         t::shortstr("") + t::shortstr("q1")) +
      t::frame_bytes(2, 1, header_prefix(11, 0x8000) + t::shortstr("text/plain")) +
      t::frame_bytes(3, 1, "hello world");
  const auto frames = split(stream, 131072);
  ASSERT_EQ(frames.size(), 3u);
  method m;
  ASSERT_FALSE(decode_method(frames[0].payload, m));
  EXPECT_EQ(std::get<basic_deliver>(m).delivery_tag, 5u);
  const auto h = decode_ok(frames[1].payload);
  EXPECT_EQ(h.body_size, 11u);
  EXPECT_EQ(h.properties.content_type, "text/plain");
  EXPECT_EQ(frames[2].payload, "hello world");
}

}  // namespace
}  // namespace brokerside::protocol::amqp
