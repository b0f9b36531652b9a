#include "protocol/framed/frame.h"

#include <gtest/gtest.h>

#include <vector>

#include "protocol/errc.h"
#include "tests/unit/protocol/framed/bytes.h"

namespace brokerside::protocol::framed {
namespace {

using namespace std::string_literals;
using namespace test;

std::string append(codec c, const message& m) {
  std::string out;
  EXPECT_FALSE(append_message(out, c, m));
  return out;
}

message decode_all(std::string_view bytes, codec c) {
  message m;
  std::error_code ec;
  EXPECT_EQ(decode_message(bytes, c, m, ec), bytes.size()) << hex(bytes);
  EXPECT_FALSE(ec) << ec.message() << " for " << hex(bytes);
  return m;
}

std::error_code decode_error(std::string_view bytes, codec c, std::uint32_t max_frame = 0) {
  message m;
  std::error_code ec;
  EXPECT_EQ(decode_message(bytes, c, m, ec, max_frame), 0u) << hex(bytes);
  return ec;
}

// A frame around `payload`, the prefix written from the spec.
std::string framed(std::string_view payload) {
  return be(payload.size(), 4) + std::string(payload);
}

// The reference frames: gen_vectors.py, from aiomas 2.0.1's codecs and
// channel Header (msgpack 1.0.8 under the MsgPack codec). The exception's
// content is what Request.fail sends for ValueError('boom') never raised:
// traceback.format_exception's text (one raised adds "Traceback (most
// recent call last):" and its frames).
struct reference {
  const char* name;
  message m;
  const char* msgpack_hex;
  const char* json_hex;
};

std::vector<reference> python_vectors() {
  return {
      {"request",
       {message_type::request, 0, s("hello")},
       "00000009930000a568656c6c6f",
       "0000000f5b302c20302c202268656c6c6f225d"},
      {"result",
       {message_type::result, 1, obj({{s("ok"), value{true}}})},
       "0000000893010181a26f6bc3",
       "000000145b312c20312c207b226f6b223a20747275657d5d"},
      {"exception",
       {message_type::exception, 7, s("ValueError: boom\n")},
       "00000015930207b156616c75654572726f723a20626f6f6d0a",
       "0000001c5b322c20372c202256616c75654572726f723a20626f6f6d5c6e225d"},
      {"big id",
       {message_type::request, 70000, nil()},
       "000000089300ce00011170c0",
       "000000105b302c2037303030302c206e756c6c5d"},
  };
}

TEST(framed_frame, matches_aiomas_in_both_codecs) {
  for (const auto& v : python_vectors()) {
    EXPECT_EQ(hex(append(codec::msgpack, v.m)), v.msgpack_hex) << v.name;
    EXPECT_EQ(decode_all(unhex(v.msgpack_hex), codec::msgpack), v.m) << v.name;
    EXPECT_EQ(hex(append(codec::json, v.m)), v.json_hex) << v.name;
    EXPECT_EQ(decode_all(unhex(v.json_hex), codec::json), v.m) << v.name;
  }
  // Python bytes in a result (msgpack only: aiomas's JSON codec refuses them).
  const message bytes{message_type::result, 2, arr({value{bin{"\x00\xff"s}}, value{bin{}}})};
  EXPECT_EQ(hex(append(codec::msgpack, bytes)), "0000000a93010292c40200ffc400");
  std::string out = "kept";
  EXPECT_EQ(append_message(out, codec::json, bytes), errc::unsupported);
  EXPECT_EQ(out, "kept");
}

// A live aiomas JSON server (gen_vectors.py live_json) answering request 5
// "fail" with req.fail(ValueError('boom')) and request 6 {"k": [1, 2.5]}
// with ["echo", content]: its two replies, as they came off the socket.
TEST(framed_frame, reads_a_live_aiomas_servers_replies) {
  const auto wire = unhex(
      "0000001c5b322c20352c202256616c75654572726f723a20626f6f6d5c6e225d"
      "000000215b312c20362c205b226563686f222c207b226b223a205b312c20322e355d7d5d5d");
  message m;
  std::error_code ec;
  const auto first = decode_message(wire, codec::json, m, ec);
  ASSERT_EQ(first, 32u);
  EXPECT_EQ(m, (message{message_type::exception, 5, s("ValueError: boom\n")}));
  const auto second = decode_message(std::string_view(wire).substr(first), codec::json, m, ec);
  ASSERT_EQ(first + second, wire.size());
  EXPECT_EQ(m, (message{message_type::result, 6,
                        arr({s("echo"), obj({{s("k"), arr({i(1), value{2.5}})}})})}));
  // What we send for the same requests is what the raw client sent.
  EXPECT_EQ(hex(append(codec::json,
                       {message_type::request, 6, obj({{s("k"), arr({i(1), value{2.5}})}})})),
            "000000175b302c20362c207b226b223a205b312c20322e355d7d5d");
}

TEST(framed_frame, every_cut_needs_more) {
  for (const auto c : {codec::msgpack, codec::json}) {
    const auto whole = append(c, {message_type::result, 3, arr({s("x"), i(300), obj({})})});
    for (std::size_t n = 0; n < whole.size(); ++n) {
      message m;
      std::error_code ec;
      EXPECT_EQ(decode_message(std::string_view(whole).substr(0, n), c, m, ec), 0u) << n;
      EXPECT_FALSE(ec) << n;
    }
    // Frames back to back: one at a time.
    const auto two = whole + whole;
    EXPECT_EQ(decode_all(std::string_view(two).substr(0, whole.size()), c).id, 3);
    message m;
    std::error_code ec;
    EXPECT_EQ(decode_message(two, c, m, ec), whole.size());
  }
}

TEST(framed_frame, the_prefix_alone_decides_too_large) {
  EXPECT_EQ(decode_error("\x00\x00\x04\x01"s, codec::msgpack, 1024), errc::frame_too_large);
  EXPECT_EQ(decode_error("\xff\xff\xff\xff"s, codec::json),
            errc::frame_too_large);  // lim.max_bytes
  const auto ok = append(codec::msgpack, {message_type::request, 1, s(std::string(1000, 'a'))});
  EXPECT_EQ(decode_all(ok, codec::msgpack).content, s(std::string(1000, 'a')));
  EXPECT_EQ(ok.size(), 4u + 1006u);  // 93 00 01 da 03e8, 1000 bytes
  EXPECT_EQ(decode_error(ok, codec::msgpack, 1005), errc::frame_too_large);
  message m;
  std::error_code ec;
  EXPECT_EQ(decode_message(ok, codec::msgpack, m, ec, 1006), ok.size());

  std::string out = "kept";
  EXPECT_EQ(append_message(out, codec::msgpack,
                           {message_type::request, 1, s(std::string(1000, 'a'))}, 1005),
            errc::frame_too_large);
  EXPECT_EQ(out, "kept");
}

TEST(framed_frame, payloads_that_are_not_a_message) {
  const auto mp = [](std::string_view payload) {
    return decode_error(framed(payload), codec::msgpack);
  };
  const auto js = [](std::string_view payload) {
    return decode_error(framed(payload), codec::json);
  };
  EXPECT_EQ(mp("\xc0"), errc::malformed_frame);                  // not an array
  EXPECT_EQ(mp("\x92\x00\x01"), errc::malformed_frame);          // two elements
  EXPECT_EQ(mp("\x94\x00\x01\xc0\xc0"), errc::malformed_frame);  // four
  EXPECT_EQ(mp("\x93\xa1"
               "0\x01\xc0"),
            errc::malformed_frame);                          // type a str
  EXPECT_EQ(mp("\x93\xc2\x01\xc0"), errc::malformed_frame);  // type false (Python: 0)
  EXPECT_EQ(mp("\x93\xcb\x00\x00\x00\x00\x00\x00\x00\x00\x01\xc0"s), errc::malformed_frame);
  EXPECT_EQ(mp("\x93\x00\xa1"
               "a\xc0"),
            errc::malformed_frame);  // id a str
  EXPECT_EQ(mp("\x93\x00\xcf\x80\x00\x00\x00\x00\x00\x00\x00\xc0"s), errc::malformed_frame);
  EXPECT_EQ(mp("\x93\x03\x01\xc0"), errc::unsupported);          // msg_type 3
  EXPECT_EQ(mp("\x93\xff\x01\xc0"), errc::unsupported);          // msg_type -1
  EXPECT_EQ(mp("\x93\x00\x01\xc0\xc0"), errc::malformed_frame);  // a byte after it
  EXPECT_EQ(mp("\x93\x00\x01"), errc::malformed_frame);          // cut short
  EXPECT_EQ(mp(""), errc::malformed_frame);
  EXPECT_EQ(mp("\x93\x00\x01\xc1"), errc::malformed_frame);
  EXPECT_EQ(js("[0, 1]"), errc::malformed_frame);
  EXPECT_EQ(js("[0, 1, null] [0]"), errc::malformed_frame);
  EXPECT_EQ(js("[0.0, 1, null]"), errc::malformed_frame);
  EXPECT_EQ(js("[0, \"1\", null]"), errc::malformed_frame);
  EXPECT_EQ(js("{\"0\": 1, \"1\": 2, \"2\": 3}"), errc::malformed_frame);
  EXPECT_EQ(js("[5, 1, null]"), errc::unsupported);
  EXPECT_EQ(js("[0, 1, NaN]"), errc::unsupported);
  EXPECT_EQ(js(""), errc::malformed_frame);
  // Negative ids pass as they are (aiomas never sends one).
  EXPECT_EQ(decode_all(framed("[1, -4, null]"), codec::json).id, -4);
  EXPECT_EQ(decode_all(framed("\x93\x01\xfc\xc0"), codec::msgpack).id, -4);
}

TEST(framed_frame, limits_reach_the_content) {
  value deep = nil();
  for (int k = 0; k < 63; ++k) deep = arr({std::move(deep)});
  const message ok{message_type::request, 1, deep};  // 64 levels with the triple
  for (const auto c : {codec::msgpack, codec::json}) {
    EXPECT_EQ(decode_all(append(c, ok), c), ok);
    std::string out;
    EXPECT_EQ(append_message(out, c, {message_type::request, 1, arr({deep})}),
              errc::nesting_too_deep);
    EXPECT_TRUE(out.empty());
  }
  EXPECT_EQ(decode_error(framed(std::string(65, '\x91') + "\xc0"), codec::msgpack),
            errc::nesting_too_deep);
  EXPECT_EQ(decode_error(framed("[0, 1, " + std::string(64, '[') + std::string(64, ']') + "]"),
                         codec::json),
            errc::nesting_too_deep);
}

}  // namespace
}  // namespace brokerside::protocol::framed
