// The Redis handshake byte for byte: what it asks to write, fed replies.
#include "protocol/redis/handshake.h"

#include <gtest/gtest.h>

#include "protocol/errc.h"

namespace brokerside::protocol::redis {
namespace {

value reply(resp_type type, std::string text = {}) {
  value v;
  v.type = type;
  v.text = std::move(text);
  return v;
}
const value ok = reply(resp_type::simple_string, "OK");
const value hello_map = reply(resp_type::map);
value error(std::string text) { return reply(resp_type::error, std::move(text)); }

TEST(redis_handshake, hello_alone_when_nothing_is_configured) {
  handshake_options o;
  handshake h(o);
  std::string out;
  EXPECT_EQ(h.start(out).sent, 1u);
  EXPECT_EQ(out, "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n");
  EXPECT_EQ(h.current(), handshake::state::awaiting_hello);
  out.clear();
  const auto a = h.resume(hello_map, out);
  EXPECT_TRUE(a.done);
  EXPECT_FALSE(a.error);
  EXPECT_EQ(out, "");
  EXPECT_EQ(h.protocol(), 3);
  EXPECT_EQ(h.current(), handshake::state::done);
}

TEST(redis_handshake, hello_carries_auth_and_setname_then_select) {
  handshake_options o{.user = "app", .password = "pw", .db = 2, .client_name = "bs"};
  handshake h(o);
  std::string out;
  h.start(out);
  EXPECT_EQ(out,
            "*7\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$3\r\napp\r\n$2\r\npw\r\n"
            "$7\r\nSETNAME\r\n$2\r\nbs\r\n");
  out.clear();
  auto a = h.resume(hello_map, out);
  EXPECT_FALSE(a.done);
  EXPECT_EQ(a.sent, 1u);
  EXPECT_EQ(out, "*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n");
  out.clear();
  a = h.resume(ok, out);
  EXPECT_TRUE(a.done);
  EXPECT_EQ(out, "");
  EXPECT_EQ(h.protocol(), 3);
}

TEST(redis_handshake, a_password_without_a_user_is_the_default_user) {
  handshake_options o{.password = "pw"};
  handshake h(o);
  std::string out;
  h.start(out);
  EXPECT_EQ(out, "*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$2\r\npw\r\n");
}

TEST(redis_handshake, an_error_to_hello_falls_back_to_resp2) {
  handshake_options o{.user = "app", .password = "pw", .db = 5, .client_name = "bs"};
  handshake h(o);
  std::string out;
  h.start(out);
  out.clear();
  auto a = h.resume(error("ERR unknown command 'HELLO'"), out);
  EXPECT_FALSE(a.error);
  EXPECT_FALSE(a.done);
  EXPECT_EQ(a.sent, 3u);
  EXPECT_EQ(out,
            "*3\r\n$4\r\nAUTH\r\n$3\r\napp\r\n$2\r\npw\r\n"
            "*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n$2\r\nbs\r\n"
            "*2\r\n$6\r\nSELECT\r\n$1\r\n5\r\n");
  EXPECT_EQ(h.protocol(), 2);
  out.clear();
  EXPECT_FALSE(h.resume(ok, out).done);
  EXPECT_FALSE(h.resume(ok, out).done);
  a = h.resume(ok, out);
  EXPECT_TRUE(a.done);
  EXPECT_EQ(out, "");
}

TEST(redis_handshake, resp2_auth_without_a_user_names_none) {
  handshake_options o{.password = "pw"};
  handshake h(o);
  std::string out;
  h.start(out);
  out.clear();
  const auto a = h.resume(error("NOPROTO sorry, this protocol version is not supported"), out);
  EXPECT_EQ(a.sent, 1u);
  EXPECT_EQ(out, "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n");
}

TEST(redis_handshake, resp2_with_nothing_to_send_is_done_at_once) {
  handshake_options o;
  handshake h(o);
  std::string out;
  h.start(out);
  out.clear();
  const auto a = h.resume(error("ERR unknown command 'HELLO'"), out);
  EXPECT_TRUE(a.done);
  EXPECT_EQ(a.sent, 0u);
  EXPECT_EQ(out, "");
  EXPECT_EQ(h.protocol(), 2);
}

TEST(redis_handshake, a_refused_login_fails_without_falling_back) {
  for (const char* refusal :
       {"WRONGPASS invalid username-password pair or user is disabled.",
        "NOPERM this user has no permissions", "NOAUTH Authentication required."}) {
    handshake_options o{.password = "pw", .client_name = "bs"};
    handshake h(o);
    std::string out;
    h.start(out);
    out.clear();
    const auto a = h.resume(error(refusal), out);
    EXPECT_EQ(a.error, errc::access_refused) << refusal;
    EXPECT_EQ(a.text, refusal);
    EXPECT_EQ(out, "") << refusal;
    EXPECT_EQ(h.current(), handshake::state::failed);
  }
}

TEST(redis_handshake, every_reply_is_awaited_and_the_first_error_reported) {
  handshake_options o{.password = "pw", .db = 3, .client_name = "bs"};
  handshake h(o);
  std::string out;
  h.start(out);
  h.resume(error("ERR unknown command 'HELLO'"), out);
  out.clear();
  auto a = h.resume(error("ERR invalid password"), out);
  EXPECT_FALSE(a.error);  // two replies still owed
  a = h.resume(ok, out);
  EXPECT_FALSE(a.error);
  a = h.resume(error("ERR DB index is out of range"), out);
  EXPECT_EQ(a.error, errc::access_refused);  // the login, reported first
  EXPECT_EQ(a.text, "ERR invalid password");
  EXPECT_FALSE(a.done);
  EXPECT_EQ(out, "");
}

TEST(redis_handshake, a_select_error_after_hello_fails) {
  handshake_options o{.db = 99};
  handshake h(o);
  std::string out;
  h.start(out);
  h.resume(hello_map, out);
  const auto a = h.resume(error("ERR DB index is out of range"), out);
  EXPECT_EQ(a.error, errc::handshake_failed);
  EXPECT_EQ(a.text, "ERR DB index is out of range");
}

TEST(redis_handshake, a_reply_nobody_asked_for_is_malformed) {
  handshake_options o;
  handshake h(o);
  std::string out;
  h.start(out);
  h.resume(hello_map, out);
  EXPECT_EQ(h.resume(ok, out).error, errc::malformed_frame);
}

}  // namespace
}  // namespace brokerside::protocol::redis
