// A broker URL, scheme://user:password@host:port/path?options, or a Unix
// socket, scheme:///path/to.sock?options (kombu's BrokerConnection URLs).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/adapter_kind.h"

namespace brokerside::pool {

struct broker_url {
  std::string scheme;              // "redis", "amqps", "framed+unix", ...
  protocol::adapter_kind adapter;  // the adapter the scheme selects
  bool tls = false;                // rediss, amqps, tls
  std::string user;                // percent-decoded; empty if absent
  std::string password;            // percent-decoded; a secret: never log it
  std::string host;                // IPv6 without brackets; empty for Unix sockets
  std::uint16_t port = 0;          // 0: the adapter's default port
  std::string unix_path;           // absolute socket path for *+unix schemes
  std::string path;                // percent-decoded text after the authority's "/"
                                   // (Redis db, AMQP vhost); empty if absent
  std::vector<std::pair<std::string, std::string>> options;  // ?k=v&..., decoded

  // The URL as given, with the password (if any) replaced by "***": the
  // only form that may appear in logs, Stats and error messages.
  std::string redacted;

  // The value of option `key`, if present.
  std::optional<std::string_view> option(std::string_view key) const;
};

// Parses `text`. On failure returns nullopt and sets `error` to a short reason
// that never contains the password.
std::optional<broker_url> parse_broker_url(std::string_view text, std::string& error);

}  // namespace brokerside::pool
