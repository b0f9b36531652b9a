#include "protocol/amqp/handshake.h"

#include <gtest/gtest.h>

#include "protocol/amqp/frame.h"
#include "protocol/errc.h"

namespace brokerside::protocol::amqp {
namespace {

using namespace std::chrono_literals;

connect_options client(std::uint32_t frame_max, std::uint16_t channel_max,
                       std::chrono::seconds heartbeat) {
  connect_options o;
  o.frame_max = frame_max;
  o.channel_max = channel_max;
  o.heartbeat = heartbeat;
  return o;
}

TEST(amqp_handshake, negotiation_takes_the_lower_non_zero_value) {
  // RabbitMQ's defaults against brokerside's: the same.
  EXPECT_EQ(negotiate({2047, 131072, 60}, client(131072, 2047, 60s)), (tuning{2047, 131072, 60}));
  EXPECT_EQ(negotiate({2047, 131072, 60}, client(65536, 100, 10s)), (tuning{100, 65536, 10}));
  EXPECT_EQ(negotiate({64, 8192, 5}, client(131072, 2047, 60s)), (tuning{64, 8192, 5}));
  // Zero is "no limit": the other side's value wins; both zero stays zero.
  EXPECT_EQ(negotiate({0, 0, 0}, client(131072, 2047, 60s)), (tuning{2047, 131072, 60}));
  EXPECT_EQ(negotiate({2047, 131072, 60}, client(0, 0, 0s)), (tuning{2047, 131072, 60}));
  EXPECT_EQ(negotiate({0, 0, 0}, client(0, 0, 0s)), (tuning{0, 0, 0}));
  // Below the spec's minimum frame size is raised to it; a heartbeat beyond
  // the u16 field is cut to it.
  EXPECT_EQ(negotiate({0, 131072, 0}, client(512, 1, 100000s)), (tuning{1, 4096, 65535}));
}

TEST(amqp_handshake, client_properties_announce_the_capabilities_relied_on) {
  connect_options o;
  o.connection_name = "orders";
  const auto properties = client_properties(o);
  const auto find = [](const field_table& t, const std::string& name) -> const field_value* {
    for (const auto& f : t)
      if (f.name == name) return &f.value;
    return nullptr;
  };
  ASSERT_NE(find(properties, "product"), nullptr);
  EXPECT_EQ(std::get<std::string>(*find(properties, "product")), "brokerside");
  EXPECT_EQ(std::get<std::string>(*find(properties, "platform")), "C++");
  EXPECT_FALSE(std::get<std::string>(*find(properties, "version")).empty());
  EXPECT_EQ(std::get<std::string>(*find(properties, "connection_name")), "orders");
  const auto& capabilities = std::get<field_table>(*find(properties, "capabilities"));
  for (const char* name :
       {"publisher_confirms", "consumer_cancel_notify", "exchange_exchange_bindings", "basic.nack",
        "connection.blocked", "authentication_failure_close"}) {
    ASSERT_NE(find(capabilities, name), nullptr) << name;
    EXPECT_TRUE(std::get<bool>(*find(capabilities, name))) << name;
  }
  EXPECT_EQ(find(client_properties(connect_options{}), "connection_name"), nullptr);
}

TEST(amqp_handshake, start_tune_open) {
  connect_options o;
  o.user = "app";
  o.password = "s3cret";
  o.vhost = "orders";
  o.heartbeat = 10s;
  handshake h(o);
  EXPECT_EQ(h.current(), handshake::state::awaiting_start);

  connection_start start;
  start.mechanisms = "AMQPLAIN PLAIN";
  auto a = h.resume(start);
  EXPECT_FALSE(a.error);
  ASSERT_EQ(a.send.size(), 1u);
  const auto& ok = std::get<connection_start_ok>(a.send[0]);
  EXPECT_EQ(ok.mechanism, "PLAIN");
  EXPECT_EQ(ok.response, std::string("\0app\0s3cret", 11));
  EXPECT_EQ(ok.locale, "en_US");
  EXPECT_EQ(h.current(), handshake::state::awaiting_tune);

  a = h.resume(connection_tune{2047, 131072, 60});
  EXPECT_TRUE(a.tuned);
  ASSERT_EQ(a.send.size(), 2u);
  EXPECT_EQ(std::get<connection_tune_ok>(a.send[0]), (connection_tune_ok{2047, 131072, 10}));
  EXPECT_EQ(std::get<connection_open>(a.send[1]).virtual_host, "orders");
  EXPECT_EQ(h.tuned(), (tuning{2047, 131072, 10}));
  EXPECT_FALSE(a.done);

  a = h.resume(connection_open_ok{});
  EXPECT_TRUE(a.done);
  EXPECT_TRUE(a.send.empty());
  EXPECT_EQ(h.current(), handshake::state::done);
}

TEST(amqp_handshake, a_broker_without_plain_is_refused) {
  connect_options o;
  handshake h(o);
  connection_start start;
  start.mechanisms = "AMQPLAIN PLAINISH EXTERNAL";
  const auto a = h.resume(start);
  EXPECT_EQ(a.error, errc::handshake_failed);
  EXPECT_EQ(a.reply.text, "broker does not offer PLAIN");
  EXPECT_TRUE(a.send.empty());
  EXPECT_EQ(h.current(), handshake::state::failed);
}

TEST(amqp_handshake, the_brokers_close_is_the_reason_and_is_answered) {
  connect_options o;
  o.password = "hunter2";
  handshake h(o);
  (void)h.resume(connection_start{});
  const auto a = h.resume(connection_close{403, "ACCESS_REFUSED - Login was refused", 0, 0});
  EXPECT_EQ(a.error, errc::access_refused);
  EXPECT_EQ(a.reply.code, 403);
  EXPECT_EQ(a.reply.text, "ACCESS_REFUSED - Login was refused");
  ASSERT_EQ(a.send.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<connection_close_ok>(a.send[0]));
}

TEST(amqp_handshake, a_socket_closed_after_start_ok_is_a_refused_login) {
  connect_options o;
  {
    handshake h(o);
    // Before start-ok: the transport's own error.
    EXPECT_EQ(h.closed(errc::connection_closed).error, errc::connection_closed);
  }
  {
    handshake h(o);
    (void)h.resume(connection_start{});
    const auto a = h.closed(errc::connection_closed);
    EXPECT_EQ(a.error, errc::access_refused);
    EXPECT_EQ(a.reply.text, "login refused (the broker closed the connection)");
  }
  {
    handshake h(o);
    (void)h.resume(connection_start{});
    (void)h.resume(connection_tune{0, 0, 0});
    const auto a = h.closed(errc::connection_closed);
    EXPECT_EQ(a.error, errc::handshake_failed);
    EXPECT_EQ(a.reply.text.find("login"), std::string::npos) << "the login was accepted";
  }
}

TEST(amqp_handshake, an_unexpected_method_is_a_protocol_error) {
  connect_options o;
  handshake h(o);
  EXPECT_EQ(h.resume(connection_tune{}).error, errc::malformed_frame);
  handshake secure(o);
  (void)secure.resume(connection_start{});
  EXPECT_EQ(secure.resume(connection_secure{"challenge"}).error, errc::handshake_failed);
}

}  // namespace
}  // namespace brokerside::protocol::amqp
