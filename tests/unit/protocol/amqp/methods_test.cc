#include "protocol/amqp/methods.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "protocol/amqp/frame.h"
#include "protocol/errc.h"
#include "tests/unit/protocol/amqp/bytes.h"

namespace brokerside::protocol::amqp {
namespace {

using namespace std::string_literals;
using namespace std::string_view_literals;
namespace t = test;

std::string ids(std::uint16_t class_id, std::uint16_t method_id) {
  return t::u16(class_id) + t::u16(method_id);
}

std::string flag(std::string_view name, bool on) {
  return t::shortstr(name) + "t" + (on ? "\x01"s : "\x00"s);
}

std::string text(std::string_view name, std::string_view value) {
  return t::shortstr(name) + "S" + t::longstr(value);
}

method decode_ok(std::string_view payload) {
  method m;
  EXPECT_EQ(decode_method(payload, m), std::error_code{});
  return m;
}

std::string encode_ok(const method& m) {
  std::string out;
  EXPECT_EQ(encode_method(m, out), std::error_code{});
  return out;
}

TEST(amqp_methods, connection_start_as_rabbitmq_sends_it) {
  const auto capabilities = flag("publisher_confirms", true) +
                            flag("exchange_exchange_bindings", true) + flag("basic.nack", true) +
                            flag("consumer_cancel_notify", true) +
                            flag("connection.blocked", true) + flag("consumer_priorities", true) +
                            flag("authentication_failure_close", true) +
                            flag("per_consumer_qos", true) + flag("direct_reply_to", true);
  const auto properties =
      t::shortstr("capabilities") + "F" + t::sized(capabilities) +
      text("cluster_name", "rabbit@b1c2") +
      text("copyright", "Copyright (c) 2007-2024 Broadcom Inc and/or its subsidiaries") +
      text("information", "Licensed under the MPL 2.0. Website: https://rabbitmq.com") +
      text("platform", "Erlang/OTP 26.2.5") + text("product", "RabbitMQ") +
      text("version", "3.13.7");
  const auto payload = ids(10, 10) + "\x00\x09"s + t::sized(properties) +
                       t::longstr("AMQPLAIN PLAIN") + t::longstr("en_US");
  const auto bytes = t::frame_bytes(1, 0, payload);

  frame f;
  std::error_code ec;
  ASSERT_EQ(decode_frame(bytes, f, ec, frame_min_size), bytes.size());
  const auto m = decode_ok(f.payload);
  const auto& start = std::get<connection_start>(m);
  EXPECT_EQ(start.version_major, 0);
  EXPECT_EQ(start.version_minor, 9);
  EXPECT_EQ(start.mechanisms, "AMQPLAIN PLAIN");
  EXPECT_EQ(start.locales, "en_US");
  ASSERT_EQ(start.server_properties.size(), 7u);
  EXPECT_EQ(start.server_properties[0].name, "capabilities");
  const auto& caps = std::get<field_table>(start.server_properties[0].value);
  ASSERT_EQ(caps.size(), 9u);
  EXPECT_EQ(caps[3].name, "consumer_cancel_notify");
  EXPECT_EQ(std::get<bool>(caps[3].value), true);
  EXPECT_EQ(std::get<std::string>(start.server_properties[5].value), "RabbitMQ");
  EXPECT_EQ(encode_ok(m), payload);
}

TEST(amqp_methods, start_ok_with_plain_credentials) {
  connection_start_ok ok;
  ok.client_properties = {{"product", {"brokerside"s}},
                          {"capabilities", {field_table{{"consumer_cancel_notify", {true}}}}}};
  ok.response = "\0guest\0guest"s;
  const auto expected = ids(10, 11) +
                        t::sized(text("product", "brokerside") + t::shortstr("capabilities") + "F" +
                                 t::sized(flag("consumer_cancel_notify", true))) +
                        t::shortstr("PLAIN") + t::longstr("\0guest\0guest"s) + t::shortstr("en_US");
  EXPECT_EQ(encode_ok(ok), expected);
  EXPECT_EQ(decode_ok(expected), method{ok});
}

TEST(amqp_methods, tune_and_tune_ok) {
  const auto tune = "\x00\x0A\x00\x1E\x07\xFF\x00\x02\x00\x00\x00\x3C"sv;
  EXPECT_EQ(decode_ok(tune), method(connection_tune{2047, 131072, 60}));
  EXPECT_EQ(encode_ok(connection_tune_ok{2047, 131072, 60}),
            "\x00\x0A\x00\x1F\x07\xFF\x00\x02\x00\x00\x00\x3C"sv);
}

TEST(amqp_methods, open_and_channel_open_write_their_reserved_fields) {
  EXPECT_EQ(encode_ok(connection_open{}), "\x00\x0A\x00\x28\x01/\x00\x00"sv);
  EXPECT_EQ(encode_ok(channel_open{}), "\x00\x14\x00\x0A\x00"sv);
  EXPECT_EQ(encode_ok(connection_open_ok{}), "\x00\x0A\x00\x29\x00"sv);
  // RabbitMQ's channel.open-ok carries an empty longstr.
  EXPECT_EQ(decode_ok("\x00\x14\x00\x0B\x00\x00\x00\x00"sv), method(channel_open_ok{}));
  // Reserved fields with content are read and dropped.
  EXPECT_EQ(decode_ok(ids(10, 40) + t::shortstr("/prod") + t::shortstr("caps") + "\x01"),
            method(connection_open{"/prod"}));
}

TEST(amqp_methods, channel_close_not_found) {
  const auto reply = "NOT_FOUND - no queue 'missing' in vhost '/'"sv;
  const auto payload = ids(20, 40) + t::u16(404) + t::shortstr(reply) + t::u16(50) + t::u16(10);
  const channel_close close{404, std::string(reply), 50, 10};
  EXPECT_EQ(decode_ok(payload), method(close));
  EXPECT_EQ(encode_ok(close), payload);
}

TEST(amqp_methods, basic_deliver) {
  const auto payload = ids(60, 60) + t::shortstr("amq.ctag-abc") + t::u64(1) + "\x01"s +
                       t::shortstr("") + t::shortstr("q1");
  const auto m = decode_ok(payload);
  const auto& deliver = std::get<basic_deliver>(m);
  EXPECT_EQ(deliver.consumer_tag, "amq.ctag-abc");
  EXPECT_EQ(deliver.delivery_tag, 1u);
  EXPECT_TRUE(deliver.redelivered);
  EXPECT_EQ(deliver.exchange, "");
  EXPECT_EQ(deliver.routing_key, "q1");
  EXPECT_EQ(encode_ok(m), payload);
}

TEST(amqp_methods, bits_pack_in_declaration_order) {
  EXPECT_EQ(encode_ok(basic_ack{42, true}), "\x00\x3C\x00\x50"s + t::u64(42) + "\x01");
  EXPECT_EQ(encode_ok(basic_nack{7, true, true}), ids(60, 120) + t::u64(7) + "\x03");
  EXPECT_EQ(encode_ok(basic_reject{7, false}), ids(60, 90) + t::u64(7) + "\x00"s);
  basic_publish publish{"ex", "rk", true, false};
  EXPECT_EQ(encode_ok(publish),
            ids(60, 40) + t::u16(0) + t::shortstr("ex") + t::shortstr("rk") + "\x01");
  queue_declare declare;
  declare.queue = "jobs";
  declare.durable = true;
  declare.auto_delete = true;
  declare.arguments = {{"x-max-length", {std::int32_t{1000}}}};
  EXPECT_EQ(encode_ok(declare), ids(50, 10) + t::u16(0) + t::shortstr("jobs") + "\x0A" +
                                    t::sized(t::shortstr("x-max-length") + "I" + t::u32(1000)));
  exchange_declare exchange{"logs", "topic", false, true};
  EXPECT_EQ(encode_ok(exchange), ids(40, 10) + t::u16(0) + t::shortstr("logs") +
                                     t::shortstr("topic") + "\x02" + t::sized(""));
  basic_consume consume;
  consume.queue = "jobs";
  consume.no_ack = true;
  consume.exclusive = true;
  EXPECT_EQ(encode_ok(consume), ids(60, 20) + t::u16(0) + t::shortstr("jobs") + t::shortstr("") +
                                    "\x06" + t::sized(""));
  EXPECT_EQ(encode_ok(queue_delete{"q", true, false, true}),
            ids(50, 40) + t::u16(0) + t::shortstr("q") + "\x05");
}

TEST(amqp_methods, unused_bits_are_ignored) {
  EXPECT_EQ(decode_ok(ids(60, 80) + t::u64(1) + "\xFE"), method(basic_ack{1, false}));
  EXPECT_EQ(decode_ok(ids(60, 120) + t::u64(1) + "\xFD"), method(basic_nack{1, true, false}));
}

TEST(amqp_methods, a_missing_bit_octet_is_malformed) {
  method m;
  EXPECT_EQ(decode_method(ids(60, 80) + t::u64(1), m), errc::malformed_frame);
  EXPECT_EQ(decode_method(ids(20, 20), m), errc::malformed_frame);
}

// Every method, with values other than the defaults.
std::vector<method> samples() {
  const field_table args{{"x-priority", {std::int32_t{5}}}, {"x-tag", {"t"s}}};
  return {
      connection_start{0, 9, args, "PLAIN AMQPLAIN", "en_US"},
      connection_start_ok{args, "AMQPLAIN", "\0u\0p"s, "de_DE"},
      connection_secure{"challenge"},
      connection_secure_ok{"answer"},
      connection_tune{2047, 131072, 60},
      connection_tune_ok{100, 65536, 30},
      connection_open{"/vhost"},
      connection_open_ok{},
      connection_close{320, "CONNECTION_FORCED - shutdown", 0, 0},
      connection_close_ok{},
      connection_blocked{"low on memory"},
      connection_unblocked{},
      channel_open{},
      channel_open_ok{},
      channel_flow{true},
      channel_flow_ok{true},
      channel_close{406, "PRECONDITION_FAILED - unknown delivery tag 9", 60, 80},
      channel_close_ok{},
      exchange_declare{"ex", "fanout", true, true, true, true, true, args},
      exchange_declare_ok{},
      exchange_delete{"ex", true, true},
      exchange_delete_ok{},
      exchange_bind{"dst", "src", "rk", true, args},
      exchange_bind_ok{},
      exchange_unbind{"dst", "src", "rk", true, args},
      exchange_unbind_ok{},
      queue_declare{"q", true, true, true, true, true, args},
      queue_declare_ok{"amq.gen-x", 12, 3},
      queue_bind{"q", "ex", "rk", true, args},
      queue_bind_ok{},
      queue_purge{"q", true},
      queue_purge_ok{99},
      queue_delete{"q", true, true, true},
      queue_delete_ok{7},
      queue_unbind{"q", "ex", "rk", args},
      queue_unbind_ok{},
      basic_qos{0, 250, true},
      basic_qos_ok{},
      basic_consume{"q", "ctag", true, true, true, true, args},
      basic_consume_ok{"ctag"},
      basic_cancel{"ctag", true},
      basic_cancel_ok{"ctag"},
      basic_publish{"ex", "rk", true, true},
      basic_return{312, "NO_ROUTE", "ex", "rk"},
      basic_deliver{"ctag", 0xFFFFFFFFFFFFFFFF, true, "ex", "rk"},
      basic_ack{0x0102030405060708, true},
      basic_reject{9, false},
      basic_recover{true},
      basic_recover_ok{},
      basic_nack{10, true, false},
      confirm_select{true},
      confirm_select_ok{},
  };
}

TEST(amqp_methods, samples_cover_every_method) {
  std::set<std::size_t> seen;
  for (const auto& m : samples()) seen.insert(m.index());
  EXPECT_EQ(seen.size(), std::variant_size_v<method>);
}

TEST(amqp_methods, every_method_round_trips) {
  for (const auto& m : samples()) {
    const auto payload = encode_ok(m);
    EXPECT_EQ(payload.substr(0, 4), ids(class_id_of(m), method_id_of(m)));
    EXPECT_EQ(decode_ok(payload), m) << class_id_of(m) << "," << method_id_of(m);
    // And with every field at its default.
    method fresh = m;
    std::visit([](auto& args) { args = std::decay_t<decltype(args)>{}; }, fresh);
    EXPECT_EQ(decode_ok(encode_ok(fresh)), fresh);
  }
}

TEST(amqp_methods, every_method_truncated_anywhere_is_malformed) {
  for (const auto& m : samples()) {
    const auto payload = encode_ok(m);
    for (std::size_t cut = 0; cut < payload.size(); ++cut) {
      method out = connection_close_ok{};
      EXPECT_EQ(decode_method(std::string_view(payload).substr(0, cut), out), errc::malformed_frame)
          << class_id_of(m) << "," << method_id_of(m) << " cut at " << cut;
      EXPECT_TRUE(std::holds_alternative<connection_close_ok>(out));
    }
    method out;
    EXPECT_EQ(decode_method(payload + "\x00"s, out), errc::malformed_frame) << "trailing byte";
  }
}

TEST(amqp_methods, unknown_methods_are_unsupported) {
  method m;
  EXPECT_EQ(decode_method(ids(60, 70) + t::u16(0) + t::shortstr("q") + "\x00"s, m),
            errc::unsupported);                                 // basic.get
  EXPECT_EQ(decode_method(ids(90, 10), m), errc::unsupported);  // tx.select
  EXPECT_EQ(decode_method(ids(10, 70), m), errc::unsupported);  // connection.update-secret
  EXPECT_EQ(decode_method(ids(0, 0), m), errc::unsupported);
  EXPECT_EQ(decode_method(ids(40, 41), m), errc::unsupported);  // unbind-ok is 51
}

TEST(amqp_methods, a_shortstr_beyond_the_payload_is_malformed) {
  method m;
  EXPECT_EQ(decode_method(ids(60, 21) + "\x05"
                                        "abc",
                          m),
            errc::malformed_frame);
  EXPECT_EQ(decode_method(ids(10, 20) + t::u32(0xFFFFFFFF) + "x", m), errc::malformed_frame);
}

TEST(amqp_methods, names_beyond_255_bytes_are_refused) {
  std::string out = "keep";
  EXPECT_EQ(encode_method(basic_publish{"", std::string(256, 'k')}, out), errc::field_too_long);
  EXPECT_EQ(encode_method(channel_close{200, std::string(300, 'r')}, out), errc::field_too_long);
  EXPECT_EQ(encode_method(queue_bind{"q", "e", "k", false, {{std::string(256, 'a'), {true}}}}, out),
            errc::field_too_long);
  EXPECT_EQ(out, "keep");
  EXPECT_FALSE(encode_method(basic_publish{"", std::string(255, 'k')}, out));
}

TEST(amqp_methods, method_frames_respect_frame_max) {
  const method m = basic_cancel_ok{"ctag"};
  std::string out;
  // 4 ids + 5 tag bytes + 8 overhead = 17.
  ASSERT_EQ(append_method_frame(out, 3, m, 17), std::error_code{});
  EXPECT_EQ(out, t::frame_bytes(1, 3, ids(60, 31) + t::shortstr("ctag")));
  frame f;
  std::error_code ec;
  ASSERT_EQ(decode_frame(out, f, ec, 17), out.size());
  EXPECT_EQ(decode_ok(f.payload), m);
  EXPECT_EQ(append_method_frame(out, 3, m, 16), errc::frame_too_large);
  EXPECT_EQ(out.size(), 17u);
  EXPECT_EQ(append_method_frame(out, 3, basic_cancel_ok{std::string(256, 'c')}, 0),
            errc::field_too_long);
  EXPECT_EQ(out.size(), 17u);
  EXPECT_FALSE(append_method_frame(out, 3, m, 0));
  EXPECT_EQ(out.size(), 34u);
}

}  // namespace
}  // namespace brokerside::protocol::amqp
