#include "protocol/redis/handshake.h"

#include <initializer_list>
#include <span>
#include <string_view>
#include <vector>

#include "protocol/errc.h"

namespace brokerside::protocol::redis {

namespace {

bool starts_with(const std::string& text, std::string_view prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

// A refused login: the RESP2 fallback would be refused the same way.
bool login_refused(const std::string& error) {
  return starts_with(error, "WRONGPASS") || starts_with(error, "NOPERM") ||
         starts_with(error, "NOAUTH");
}

void append(std::string& out, std::initializer_list<std::string_view> args) {
  encode_command(std::span<const std::string_view>(args.begin(), args.size()), out);
}

}  // namespace

handshake::action handshake::start(std::string& out) {
  const auto& o = options_;
  std::vector<std::string_view> hello = {"HELLO", "3"};
  if (!o.password.empty()) {
    const std::string_view user = o.user.empty() ? std::string_view("default") : o.user;
    hello.insert(hello.end(), {"AUTH", user, o.password});
  }
  if (!o.client_name.empty()) hello.insert(hello.end(), {"SETNAME", o.client_name});
  encode_command(hello, out);
  state_ = state::awaiting_hello;
  return {.sent = 1};
}

handshake::action handshake::resume(const value& reply, std::string& out) {
  switch (state_) {
    case state::awaiting_hello: {
      const auto& o = options_;
      action a;
      if (reply.type != resp_type::error) {
        protocol_ = 3;
      } else if (login_refused(reply.text)) {
        return fail(reply.text);
      } else {
        // No HELLO (Redis before 6) or no RESP3: RESP2 and the older commands.
        protocol_ = 2;
        if (!o.password.empty()) {
          if (o.user.empty()) {
            append(out, {"AUTH", o.password});
          } else {
            append(out, {"AUTH", o.user, o.password});
          }
          ++a.sent;
        }
        if (!o.client_name.empty()) {
          append(out, {"CLIENT", "SETNAME", o.client_name});
          ++a.sent;
        }
      }
      if (o.db != 0) {
        const auto db = std::to_string(o.db);
        append(out, {"SELECT", db});
        ++a.sent;
      }
      if (a.sent == 0) {
        state_ = state::done;
        a.done = true;
        return a;
      }
      state_ = state::awaiting_rest;
      left_ = a.sent;
      return a;
    }
    case state::awaiting_rest:
      // Every reply is awaited; the first error reply is the one reported.
      if (reply.type == resp_type::error && !refused_) {
        refused_ = true;
        first_error_ = reply.text;
      }
      if (--left_ != 0) return {};
      if (refused_) return fail(std::move(first_error_));
      state_ = state::done;
      return {.done = true};
    case state::idle:
    case state::done:
    case state::failed:
      break;
  }
  // A reply the handshake never asked for.
  state_ = state::failed;
  return {.error = make_error_code(errc::malformed_frame)};
}

handshake::action handshake::fail(std::string text) {
  state_ = state::failed;
  // WRONGPASS (6.0+), "ERR invalid password" (AUTH before 6.0), NOAUTH
  // (HELLO without the password a server requires), NOPERM (a user without
  // the right to a handshake command).
  const bool login = text.starts_with("WRONGPASS") || text.starts_with("NOAUTH") ||
                     text.starts_with("NOPERM") || text.starts_with("ERR invalid password");
  return {.error = make_error_code(login ? errc::access_refused : errc::handshake_failed),
          .text = std::move(text)};
}

}  // namespace brokerside::protocol::redis
