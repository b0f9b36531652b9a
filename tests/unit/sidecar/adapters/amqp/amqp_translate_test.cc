#include "sidecar/adapters/amqp/amqp_translate.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "pool/errc.h"

namespace brokerside::sidecar::amqp_translate {
namespace {

namespace amqp = protocol::amqp;

v1::Command command(std::vector<std::string> args) {
  v1::Command c;
  for (auto& a : args) c.add_args(std::move(a));
  return c;
}

TEST(amqp_translate, every_message_property_goes_to_amqp_and_back) {
  v1::Message m;
  m.set_body(std::string("\0bin", 4));
  m.set_content_type("application/octet-stream");
  m.set_content_encoding("gzip");
  m.set_delivery_mode(v1::DELIVERY_MODE_PERSISTENT);
  m.set_priority(7);
  m.set_correlation_id("c-1");
  m.set_reply_to("replies");
  m.set_expiration("60000");
  m.set_message_id("m-1");
  m.mutable_timestamp()->set_seconds(1'700'000'000);
  m.set_type("order.created");
  m.set_user_id("guest");
  m.set_app_id("shop");
  (*m.mutable_headers())["n"].set_integer(-5);
  (*m.mutable_headers())["s"].set_text("text");
  (*m.mutable_headers())["b"].set_boolean(true);
  (*m.mutable_headers())["l"].mutable_array()->add_values()->set_double_(1.5);

  amqp::basic_properties p;
  ASSERT_TRUE(properties_of(m, p).ok());
  EXPECT_EQ(p.delivery_mode, 2);
  EXPECT_EQ(p.priority, 7);
  EXPECT_EQ(p.timestamp, 1'700'000'000u);
  ASSERT_TRUE(p.headers.has_value());
  ASSERT_EQ(p.headers->size(), 4u);
  EXPECT_EQ((*p.headers)[0].name, "b");  // sorted: the same headers encode the same
  EXPECT_EQ(body_of(m), std::string_view("\0bin", 4));

  v1::Message back;
  to_v1(std::move(p), std::string(body_of(m)), back);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(back, m)) << back.DebugString();
}

TEST(amqp_translate, json_content_is_published_as_json) {
  v1::Message m;
  m.set_json(R"({"a": 1})");
  amqp::basic_properties p;
  ASSERT_TRUE(properties_of(m, p).ok());
  EXPECT_EQ(p.content_type, "application/json");
  EXPECT_EQ(body_of(m), R"({"a": 1})");
  m.set_content_type("application/vnd.shop+json");  // the caller's own type wins
  amqp::basic_properties q;
  ASSERT_TRUE(properties_of(m, q).ok());
  EXPECT_EQ(q.content_type, "application/vnd.shop+json");
}

TEST(amqp_translate, what_amqp_cannot_carry_is_refused) {
  v1::Message m;
  m.mutable_value()->set_integer(1);
  amqp::basic_properties p;
  auto status = properties_of(m, p);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "amqp: message.value: AMQP bodies are bytes; give body or json");
  v1::Message h;
  (*h.mutable_headers())["x"].set_big_number("1");
  status = properties_of(h, p);
  EXPECT_EQ(status.error_message(),
            "amqp: header 'x': an error or big_number value has no AMQP field type");
  v1::Message prio;
  prio.set_priority(300);
  EXPECT_EQ(properties_of(prio, p).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(amqp_translate, header_values_from_the_broker) {
  amqp::field_table table{{"bin", amqp::field_value{std::string("\xff\xfe", 2)}},
                          {"txt", amqp::field_value{std::string("héllo")}},
                          {"dec", amqp::field_value{amqp::decimal{2, 314}}},
                          {"ts", amqp::field_value{amqp::timestamp{42}}},
                          {"x", amqp::field_value{amqp::byte_array{"raw"}}},
                          {"u8", amqp::field_value{std::uint8_t{200}}}};
  amqp::basic_properties p;
  p.headers = table;
  v1::Message m;
  to_v1(std::move(p), "", m);
  const auto& h = m.headers();
  EXPECT_EQ(h.at("bin").bytes(), "\xff\xfe");  // not UTF-8: bytes
  EXPECT_EQ(h.at("txt").text(), "héllo");
  EXPECT_DOUBLE_EQ(h.at("dec").double_(), 3.14);
  EXPECT_EQ(h.at("ts").integer(), 42);
  EXPECT_EQ(h.at("x").bytes(), "raw");
  EXPECT_EQ(h.at("u8").integer(), 200);
}

TEST(amqp_translate, commands_become_methods) {
  auto c = command({"queue.declare", "jobs"});
  (*c.mutable_options())["durable"].set_boolean(true);
  auto& args = *(*c.mutable_options())["arguments"].mutable_map()->add_entries();
  args.mutable_key()->set_text("x-max-length");
  args.mutable_value()->set_integer(10);
  amqp::method m;
  ASSERT_TRUE(to_method(c, m).ok());
  const auto& declare = std::get<amqp::queue_declare>(m);
  EXPECT_EQ(declare.queue, "jobs");
  EXPECT_TRUE(declare.durable);
  EXPECT_FALSE(declare.passive);
  ASSERT_EQ(declare.arguments.size(), 1u);
  EXPECT_EQ(declare.arguments[0].name, "x-max-length");

  ASSERT_TRUE(to_method(command({"QUEUE.BIND", "jobs", "amq.direct", "jobs"}), m).ok());
  EXPECT_EQ(std::get<amqp::queue_bind>(m).exchange, "amq.direct");
  ASSERT_TRUE(to_method(command({"exchange.declare", "orders", "topic"}), m).ok());
  EXPECT_EQ(std::get<amqp::exchange_declare>(m).type, "topic");
  ASSERT_TRUE(to_method(command({"exchange.bind", "dst", "src", "k"}), m).ok());
  EXPECT_EQ(std::get<amqp::exchange_bind>(m).source, "src");
  ASSERT_TRUE(to_method(command({"queue.declare"}), m).ok());  // the broker names it
  EXPECT_TRUE(idempotent(command({"queue.declare", "q"})));
  EXPECT_FALSE(idempotent(command({"queue.purge", "q"})));
}

TEST(amqp_translate, command_errors_say_what_is_accepted) {
  amqp::method m;
  const auto message = [&](const v1::Command& c) { return to_method(c, m).error_message(); };
  EXPECT_EQ(message(command({"queue.frobnicate"})),
            "amqp: unknown command 'queue.frobnicate' (known: queue.declare, queue.bind, "
            "queue.unbind, queue.purge, queue.delete, exchange.declare, exchange.delete, "
            "exchange.bind, exchange.unbind)");
  EXPECT_EQ(message(command({"queue.bind", "q"})),
            "amqp: queue.bind takes queue exchange [routing_key]");
  auto c = command({"queue.purge", "q"});
  (*c.mutable_options())["durable"].set_boolean(true);
  EXPECT_EQ(message(c), "amqp: option 'durable' is not one of queue.purge's (it takes none)");
  auto d = command({"queue.declare", "q"});
  (*d.mutable_options())["durable"].set_text("yes");
  EXPECT_EQ(message(d), "amqp: option 'durable' must be a boolean");
  EXPECT_EQ(to_method(d, m).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST(amqp_translate, replies_and_reply_codes) {
  v1::Value v;
  to_v1(amqp::method{amqp::queue_declare_ok{"amq.gen-1", 3, 1}}, v);
  ASSERT_EQ(v.map().entries_size(), 3);
  EXPECT_EQ(v.map().entries(0).value().text(), "amq.gen-1");
  EXPECT_EQ(v.map().entries(1).value().integer(), 3);
  v1::Value empty;
  to_v1(amqp::method{amqp::queue_bind_ok{}}, empty);
  EXPECT_TRUE(empty.has_map());
  EXPECT_EQ(empty.map().entries_size(), 0);

  EXPECT_EQ(error_for_reply_code(404), pool::errc::not_found_at_broker);
  EXPECT_EQ(error_for_reply_code(312), pool::errc::not_found_at_broker);
  EXPECT_EQ(error_for_reply_code(403), pool::errc::access_refused);
  EXPECT_EQ(error_for_reply_code(406), pool::errc::broker_refused);
  EXPECT_EQ(error_for_reply_code(405), pool::errc::broker_refused);
  EXPECT_EQ(error_for_reply_code(320), pool::errc::unavailable);
}

}  // namespace
}  // namespace brokerside::sidecar::amqp_translate
