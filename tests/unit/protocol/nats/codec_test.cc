// protocol::nats codec, byte for byte: the server's operations (split over
// reads, double spaces, any case), the client's, and header blocks.
#include "protocol/nats/codec.h"

#include <gtest/gtest.h>

#include "protocol/errc.h"

namespace brokerside::protocol::nats {
namespace {

server_op decode_all(std::string_view in, std::size_t& used, std::error_code& ec) {
  server_op op;
  used = decode_server_op(in, op, ec, {});
  return op;
}

TEST(nats_codec, msg_with_and_without_reply_and_double_spaces) {
  std::size_t used = 0;
  std::error_code ec;
  const std::string wire = "MSG  orders.eu  7  _INBOX.x.3  5\r\nhello\r\nPING\r\n";
  auto op = decode_all(wire, used, ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(used, wire.size() - 6);
  const auto& m = std::get<msg>(op);
  EXPECT_EQ(m.subject, "orders.eu");
  EXPECT_EQ(m.sid, 7u);
  EXPECT_EQ(m.reply, "_INBOX.x.3");
  EXPECT_EQ(m.payload, "hello");
  EXPECT_TRUE(m.headers.empty());
  op = decode_all("msg a 1 0\r\n\r\n", used, ec);  // any case; an empty payload
  ASSERT_FALSE(ec);
  EXPECT_EQ(used, 13u);
  EXPECT_EQ(std::get<msg>(op).reply, "");
  EXPECT_EQ(std::get<msg>(op).payload, "");
}

TEST(nats_codec, hmsg_splits_headers_from_payload) {
  const std::string headers = "NATS/1.0\r\nA: 1\r\n\r\n";
  const std::string wire = "HMSG s 2 r " + std::to_string(headers.size()) + " " +
                           std::to_string(headers.size() + 3) + "\r\n" + headers + "abc\r\n";
  std::size_t used = 0;
  std::error_code ec;
  const auto op = decode_all(wire, used, ec);
  ASSERT_FALSE(ec);
  EXPECT_EQ(used, wire.size());
  const auto& m = std::get<msg>(op);
  EXPECT_EQ(m.headers, headers);
  EXPECT_EQ(m.payload, "abc");
  EXPECT_EQ(m.reply, "r");
}

TEST(nats_codec, an_incomplete_operation_waits_and_wanted_says_for_how_much) {
  const std::string wire = "MSG s 1 10\r\n0123456789\r\n";
  for (std::size_t n = 0; n < wire.size(); ++n) {
    std::size_t used = 1;
    std::error_code ec;
    decode_all(wire.substr(0, n), used, ec);
    EXPECT_EQ(used, 0u) << n;
    EXPECT_FALSE(ec) << n;
  }
  EXPECT_EQ(wanted(wire.substr(0, 12)), wire.size());
  EXPECT_EQ(wanted("MSG s 1"), 0u);
  EXPECT_EQ(wanted("PING\r\n"), 0u);
}

TEST(nats_codec, control_operations) {
  std::size_t used = 0;
  std::error_code ec;
  EXPECT_TRUE(std::holds_alternative<ping>(decode_all("PING\r\n", used, ec)));
  EXPECT_TRUE(std::holds_alternative<pong>(decode_all("pong\r\n", used, ec)));
  EXPECT_TRUE(std::holds_alternative<ok>(decode_all("+OK\r\n", used, ec)));
  auto op = decode_all("-ERR 'Authorization Violation'\r\n", used, ec);
  EXPECT_EQ(std::get<err>(op).text, "Authorization Violation");
  op = decode_all("INFO {\"max_payload\":1048576}\r\n", used, ec);
  EXPECT_EQ(std::get<info>(op).json, "{\"max_payload\":1048576}");
  EXPECT_FALSE(ec);
}

TEST(nats_codec, what_is_not_the_protocol_is_malformed) {
  for (const std::string_view bad :
       {"HELLO\r\n", "MSG s x 1\r\na\r\n", "MSG s 1\r\n", "MSG s 1 2\r\nabXX", "INFO nope\r\n",
        "HMSG s 1 5 3\r\nabc\r\n", "PING extra\r\n"}) {
    std::size_t used = 0;
    std::error_code ec;
    decode_all(bad, used, ec);
    EXPECT_EQ(ec, errc::malformed_frame) << bad;
    EXPECT_EQ(used, 0u) << bad;
  }
}

TEST(nats_codec, limits_bound_the_control_line_and_the_payload) {
  decoder_limits limits{.max_control_line = 16, .max_payload = 4};
  server_op op;
  std::error_code ec;
  EXPECT_EQ(decode_server_op(std::string(17, 'x'), op, ec, limits), 0u);
  EXPECT_EQ(ec, errc::frame_too_large);
  ec.clear();
  EXPECT_EQ(decode_server_op("MSG s 1 5\r\n", op, ec, limits), 0u);
  EXPECT_EQ(ec, errc::frame_too_large);
}

TEST(nats_codec, client_operations_byte_for_byte) {
  std::string out;
  append_connect(out, "{}");
  append_pub(out, "a.b", "", "hi");
  append_pub(out, "a.b", "_INBOX.1", "");
  append_hpub(out, "a", "r", "NATS/1.0\r\n\r\n", "xy");
  append_sub(out, "a.*", "", 1);
  append_sub(out, "a.>", "q", 2);
  append_unsub(out, 2);
  append_unsub(out, 3, 10);
  append_ping(out);
  append_pong(out);
  EXPECT_EQ(out,
            "CONNECT {}\r\n"
            "PUB a.b 2\r\nhi\r\n"
            "PUB a.b _INBOX.1 0\r\n\r\n"
            "HPUB a r 12 14\r\nNATS/1.0\r\n\r\nxy\r\n"
            "SUB a.* 1\r\n"
            "SUB a.> q 2\r\n"
            "UNSUB 2\r\n"
            "UNSUB 3 10\r\n"
            "PING\r\nPONG\r\n");
}

TEST(nats_codec, subjects) {
  EXPECT_TRUE(valid_subject("orders.eu.*"));
  EXPECT_TRUE(valid_subject("a"));
  for (const std::string_view bad : {"", "a b", "a..b", ".a", "a.", "a\tb", "a\r\n"}) {
    EXPECT_FALSE(valid_subject(bad)) << bad;
  }
}

TEST(nats_codec, header_blocks_round_trip_with_status_and_repeated_keys) {
  header_block h;
  h.fields = {{"A", "1"}, {"A", "2"}, {"Trace-Id", "x y"}};
  std::string out;
  ASSERT_FALSE(encode_headers(h, out));
  EXPECT_EQ(out, "NATS/1.0\r\nA: 1\r\nA: 2\r\nTrace-Id: x y\r\n\r\n");
  header_block back;
  ASSERT_FALSE(decode_headers(out, back));
  EXPECT_EQ(back.fields, h.fields);
  EXPECT_EQ(back.status, 0);
  ASSERT_FALSE(decode_headers("NATS/1.0 503\r\n\r\n", back));
  EXPECT_EQ(back.status, 503);
  ASSERT_FALSE(decode_headers("NATS/1.0 408 Request Timeout\r\n\r\n", back));
  EXPECT_EQ(back.status, 408);
  EXPECT_EQ(back.description, "Request Timeout");
  EXPECT_EQ(decode_headers("HTTP/1.1 200\r\n\r\n", back), errc::malformed_frame);
  EXPECT_EQ(decode_headers("NATS/1.0\r\nno colon\r\n\r\n", back), errc::malformed_frame);
}

TEST(nats_codec, header_fields_that_would_break_the_block_are_refused) {
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"", "v"}, {"a b", "v"}, {"a:b", "v"}, {"k", "line\r\nInjected: 1"}}) {
    header_block h;
    h.fields = {{key, value}};
    std::string out;
    EXPECT_EQ(encode_headers(h, out), errc::field_too_long) << key;
  }
}

}  // namespace
}  // namespace brokerside::protocol::nats
