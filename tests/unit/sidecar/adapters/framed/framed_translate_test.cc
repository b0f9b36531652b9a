#include "sidecar/adapters/framed/framed_translate.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <limits>

namespace brokerside::sidecar::framed_translate {
namespace {

namespace framed = protocol::framed;
using google::protobuf::util::MessageDifferencer;

v1::Value text(std::string t) {
  v1::Value v;
  v.set_text(std::move(t));
  return v;
}

// Every kind of v1::Value the channel can carry, nested.
v1::Value every_kind() {
  v1::Value v;
  auto& map = *v.mutable_map();
  const auto add = [&map](std::string key) -> v1::Value& {
    auto& e = *map.add_entries();
    *e.mutable_key() = text(std::move(key));
    return *e.mutable_value();
  };
  add("null").set_null(true);
  add("int").set_integer(-42);
  add("bytes").set_bytes(std::string("\0\xff", 2));
  add("text").set_text("h\xc3\xa9llo");
  add("double").set_double_(2.5);
  add("bool").set_boolean(true);
  auto& array = *add("array").mutable_array();
  array.add_values()->set_integer(1);
  *array.add_values() = text("two");
  // A key that is not text: msgpack allows it.
  auto& e = *map.add_entries();
  e.mutable_key()->set_integer(7);
  e.mutable_value()->set_text("seven");
  return v;
}

TEST(framed_translate, every_value_kind_goes_to_the_channel_and_back_unchanged) {
  framed::value f;
  ASSERT_TRUE(to_framed(every_kind(), f).ok());
  const auto& map = std::get<framed::map>(f);
  ASSERT_EQ(map.size(), 8u);
  EXPECT_EQ(map[2].val, framed::value{framed::bin{std::string("\0\xff", 2)}});
  EXPECT_EQ(map[7].key, framed::value{std::int64_t{7}});
  v1::Value back;
  to_v1(std::move(f), back);
  EXPECT_TRUE(MessageDifferencer::Equals(back, every_kind())) << back.DebugString();
}

TEST(framed_translate, a_set_goes_as_an_array) {
  v1::Value v;
  v.mutable_set()->add_values()->set_integer(1);
  framed::value f;
  ASSERT_TRUE(to_framed(v, f).ok());
  EXPECT_EQ(f, framed::value{framed::array{framed::value{std::int64_t{1}}}});
}

TEST(framed_translate, error_and_big_number_values_are_refused) {
  v1::Value v;
  v.set_big_number("123456789012345678901234567890");
  framed::value f;
  const auto status = to_framed(v, f);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("big_number"), std::string::npos);
  // ... also inside a container.
  v1::Value outer;
  outer.mutable_array()->add_values()->set_error("ERR x");
  EXPECT_EQ(to_framed(outer, f).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(framed_translate, channel_values_without_a_v1_twin_become_the_nearest_kind) {
  v1::Value v;
  to_v1(framed::value{std::numeric_limits<std::uint64_t>::max()}, v);
  EXPECT_EQ(v.big_number(), "18446744073709551615");
  to_v1(framed::value{framed::ext{5, "raw"}}, v);
  EXPECT_EQ(v.bytes(), "raw");
  to_v1(framed::value{1.5f}, v);
  EXPECT_EQ(v.double_(), 1.5);
}

TEST(framed_translate, json_content_is_sent_as_the_object_not_as_a_string) {
  v1::Message m;
  m.set_json(R"({"method": "add", "args": [1, 2.5, null]})");
  framed::value f;
  ASSERT_TRUE(content_of(m, f).ok());
  const auto& map = std::get<framed::map>(f);
  ASSERT_EQ(map.size(), 2u);
  EXPECT_EQ(map[0].key, framed::value{std::string("method")});
  EXPECT_EQ(map[1].val, (framed::value{framed::array{framed::value{std::int64_t{1}},
                                                     framed::value{2.5}, framed::value{}}}));
}

TEST(framed_translate, json_that_is_not_json_is_invalid_argument) {
  v1::Message m;
  m.set_json("{not json");
  framed::value f;
  const auto status = content_of(m, f);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("message.json"), std::string::npos);
}

TEST(framed_translate, body_content_is_sent_as_bin) {
  v1::Message m;
  m.set_body("abc");
  framed::value f;
  ASSERT_TRUE(content_of(m, f).ok());
  EXPECT_EQ(f, framed::value{framed::bin{"abc"}});
}

TEST(framed_translate, a_result_comes_back_in_the_form_its_request_used) {
  const auto result = [] {
    return framed::value{
        framed::map{{framed::value{std::string("n")}, framed::value{std::int64_t{3}}}}};
  };
  v1::Message out;
  result_to(v1::Message::kJson, result(), out);
  EXPECT_EQ(out.json(), R"({"n": 3})");  // Python json.dumps spacing, as aiomas writes

  out.Clear();
  result_to(v1::Message::kValue, result(), out);
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out.value().map().entries(0).value().integer(), 3);

  // A body request whose result is bin gets a body; any other result, a Value.
  out.Clear();
  result_to(v1::Message::kBody, framed::value{framed::bin{"cba"}}, out);
  EXPECT_EQ(out.body(), "cba");
  out.Clear();
  result_to(v1::Message::kBody, result(), out);
  EXPECT_TRUE(out.has_value());

  // JSON cannot carry bytes: a json request's bin result comes as a Value.
  out.Clear();
  result_to(v1::Message::kJson, framed::value{framed::bin{"\xff"}}, out);
  EXPECT_EQ(out.value().bytes(), "\xff");
}

TEST(framed_translate, a_peer_request_is_json_when_it_can_be) {
  v1::Message out;
  peer_request_to(framed::value{framed::array{framed::value{std::string("ping")},
                                              framed::value{std::int64_t{1}}}},
                  out);
  EXPECT_EQ(out.json(), R"(["ping", 1])");

  out.Clear();
  peer_request_to(framed::value{framed::bin{"raw"}}, out);
  EXPECT_EQ(out.body(), "raw");

  // Bytes inside, or a key that is not text: JSON cannot say it, a Value can.
  out.Clear();
  peer_request_to(framed::value{framed::array{framed::value{framed::bin{"raw"}}}}, out);
  EXPECT_EQ(out.value().array().values(0).bytes(), "raw");
  out.Clear();
  peer_request_to(framed::value{framed::map{{framed::value{std::int64_t{1}}, framed::value{true}}}},
                  out);
  EXPECT_EQ(out.value().map().entries(0).key().integer(), 1);
}

}  // namespace
}  // namespace brokerside::sidecar::framed_translate
