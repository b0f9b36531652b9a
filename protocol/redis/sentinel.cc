#include "protocol/redis/sentinel.h"

#include <charconv>
#include <memory>

#include "protocol/errc.h"
#include "protocol/redis/connection.h"

namespace brokerside::protocol::redis {
namespace {

bool is_text(const value& v) {
  return v.type == resp_type::bulk_string || v.type == resp_type::simple_string ||
         v.type == resp_type::verbatim;
}

std::optional<std::uint16_t> port_of(std::string_view text) {
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (ec != std::errc{} || end != text.data() + text.size() || port == 0 || port > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(port);
}

}  // namespace

std::optional<server_address> parse_master_address(const value& reply) {
  if (reply.type != resp_type::array || reply.elements.size() != 2) return std::nullopt;
  const auto& host = reply.elements[0];
  const auto& port = reply.elements[1];
  if (!is_text(host) || host.text.empty()) return std::nullopt;
  std::optional<std::uint16_t> p;
  if (is_text(port)) p = port_of(port.text);
  if (port.type == resp_type::integer && port.integer > 0 && port.integer <= 65535) {
    p = static_cast<std::uint16_t>(port.integer);
  }
  if (!p) return std::nullopt;
  return server_address{host.text, *p};
}

bool says_primary(const value& role_reply) noexcept {
  return role_reply.type == resp_type::array && !role_reply.elements.empty() &&
         is_text(role_reply.elements[0]) && role_reply.elements[0].text == "master";
}

std::optional<switch_master> parse_switch_master(std::string_view message) {
  std::string_view parts[5];
  for (auto& part : parts) {
    while (message.starts_with(' ')) message.remove_prefix(1);
    const auto space = message.find(' ');
    part = message.substr(0, space);
    if (part.empty()) return std::nullopt;
    message = space == std::string_view::npos ? std::string_view{} : message.substr(space);
  }
  while (message.starts_with(' ')) message.remove_prefix(1);
  if (!message.empty()) return std::nullopt;
  const auto from = port_of(parts[2]), to = port_of(parts[4]);
  if (!from || !to) return std::nullopt;
  return switch_master{
      std::string(parts[0]), {std::string(parts[1]), *from}, {std::string(parts[3]), *to}};
}

void ask_sentinel(boost::asio::any_io_executor executor, connect_options options, std::string name,
                  std::function<void(std::error_code, std::string, server_address)> done) {
  auto conn = connection::create(std::move(executor));
  options.client_name = "brokerside-sentinel-query";
  conn->connect(std::move(options), [conn, name = std::move(name), done = std::move(done)](
                                        std::error_code ec, std::string text) mutable {
    if (ec) return done(ec, text.empty() ? "sentinel: " + ec.message() : "sentinel: " + text, {});
    conn->execute({"SENTINEL", "GET-MASTER-ADDR-BY-NAME", name},
                  [conn, name, done = std::move(done)](std::error_code ec, value v, bool) {
                    conn->close();
                    if (ec) return done(ec, "sentinel: " + ec.message(), {});
                    if (v.type == resp_type::error) {
                      return done(make_error_code(errc::refused), "sentinel: " + v.text, {});
                    }
                    auto address = parse_master_address(v);
                    if (!address) {
                      return done(make_error_code(errc::refused),
                                  "sentinel: it monitors no primary named '" + name + "'", {});
                    }
                    done({}, {}, std::move(*address));
                  });
  });
}

}  // namespace brokerside::protocol::redis
