#include "protocol/amqp/handshake.h"

#include <algorithm>
#include <string_view>

#include "protocol/amqp/frame.h"
#include "protocol/errc.h"

namespace brokerside::protocol::amqp {
namespace {

template <class T>
T lower_non_zero(T a, T b) noexcept {
  if (a == 0) return b;
  if (b == 0) return a;
  return std::min(a, b);
}

bool offers(std::string_view mechanisms, std::string_view wanted) noexcept {
  while (!mechanisms.empty()) {
    const auto space = mechanisms.find(' ');
    if (mechanisms.substr(0, space) == wanted) return true;
    if (space == std::string_view::npos) break;
    mechanisms.remove_prefix(space + 1);
  }
  return false;
}

// PLAIN (RFC 4616): authorization id (empty), user, password, NUL-separated.
std::string plain_response(const connect_options& options) {
  std::string response;
  response.reserve(options.user.size() + options.password.size() + 2);
  response.push_back('\0');
  response += options.user;
  response.push_back('\0');
  response += options.password;
  return response;
}

}  // namespace

tuning negotiate(const connection_tune& broker, const connect_options& client) noexcept {
  tuning t;
  t.channel_max = lower_non_zero(broker.channel_max, client.channel_max);
  // Every peer accepts frame_min_size; proposing less only gets refused.
  const std::uint32_t frame_max =
      client.frame_max == 0 ? 0 : std::max(client.frame_max, frame_min_size);
  t.frame_max = lower_non_zero(broker.frame_max, frame_max);
  const auto seconds = std::clamp<std::int64_t>(client.heartbeat.count(), 0, 65535);
  t.heartbeat = lower_non_zero(broker.heartbeat, static_cast<std::uint16_t>(seconds));
  return t;
}

field_table client_properties(const connect_options& options) {
  field_table capabilities;
  for (const char* name :
       {"publisher_confirms", "consumer_cancel_notify", "exchange_exchange_bindings", "basic.nack",
        "connection.blocked", "authentication_failure_close"}) {
    capabilities.push_back({name, true});
  }
  field_table properties{{"product", std::string("brokerside")},
                         {"version", std::string(BROKERSIDE_VERSION)},
                         {"platform", std::string("C++")}};
  if (!options.connection_name.empty()) {
    properties.push_back({"connection_name", options.connection_name});
  }
  properties.push_back({"capabilities", std::move(capabilities)});
  return properties;
}

handshake::action handshake::fail(std::error_code ec, broker_reply reply) {
  state_ = state::failed;
  action a;
  a.error = ec;
  a.reply = std::move(reply);
  return a;
}

handshake::action handshake::resume(const method& m) {
  if (const auto* close = std::get_if<connection_close>(&m)) {
    // A refused login (403) or vhost (530): the broker's words, answered
    // with close-ok so it can let go of the socket.
    const bool login = close->reply_code == 403 || close->reply_code == 530;
    auto a = fail(
        login ? errc::access_refused : errc::handshake_failed,
        {close->reply_code, close->reply_text, close->failing_class_id, close->failing_method_id});
    a.send.emplace_back(connection_close_ok{});
    return a;
  }
  action a;
  switch (state_) {
    case state::awaiting_start: {
      const auto* start = std::get_if<connection_start>(&m);
      if (start == nullptr) break;
      if (!offers(start->mechanisms, "PLAIN")) {
        return fail(errc::handshake_failed, {0, "broker does not offer PLAIN", 0, 0});
      }
      connection_start_ok ok;
      ok.client_properties = client_properties(options_);
      ok.mechanism = "PLAIN";
      ok.response = plain_response(options_);
      ok.locale = "en_US";
      a.send.emplace_back(std::move(ok));
      state_ = state::awaiting_tune;
      return a;
    }
    case state::awaiting_tune: {
      if (std::holds_alternative<connection_secure>(m)) {
        return fail(errc::handshake_failed,
                    {0, "broker sent a SASL challenge, which PLAIN does not use", 0, 0});
      }
      const auto* tune = std::get_if<connection_tune>(&m);
      if (tune == nullptr) break;
      tuning_ = negotiate(*tune, options_);
      a.send.emplace_back(
          connection_tune_ok{tuning_.channel_max, tuning_.frame_max, tuning_.heartbeat});
      a.send.emplace_back(connection_open{options_.vhost});
      a.tuned = true;
      state_ = state::awaiting_open_ok;
      return a;
    }
    case state::awaiting_open_ok:
      if (!std::holds_alternative<connection_open_ok>(m)) break;
      state_ = state::done;
      a.done = true;
      return a;
    case state::done:
    case state::failed:
      break;
  }
  return fail(errc::malformed_frame);
}

handshake::action handshake::closed(std::error_code ec) {
  switch (state_) {
    case state::awaiting_tune:
      // Brokers without authentication_failure_close just hang up.
      return fail(errc::access_refused,
                  {0, "login refused (the broker closed the connection)", 0, 0});
    case state::awaiting_open_ok:
      return fail(errc::handshake_failed,
                  {0, "the broker closed the connection before connection.open-ok", 0, 0});
    default:
      return fail(ec);
  }
}

}  // namespace brokerside::protocol::amqp
