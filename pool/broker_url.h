// A broker URL, scheme://user:password@host:port/path?options, or a Unix
// socket, scheme:///path/to.sock?options (kombu's BrokerConnection URLs).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace brokerside::pool {

// What a URL scheme means. Adapters declare theirs (sidecar/adapter_registry.h);
// the pool only parses with them.
struct url_scheme {
  std::string_view scheme;         // "rediss"
  std::string_view adapter;        // the adapter it selects: "redis"
  bool tls = false;                // asks for TLS
  bool unix_socket = false;        // names a socket path (scheme:///path), not a host
  std::uint16_t default_port = 0;  // when the URL gives none
  // A user without a password is a secret (a NATS token): redacted too.
  bool user_alone_is_secret = false;
};

struct broker_url {
  std::string scheme;              // "redis", "amqps", "framed+unix", ...
  std::string adapter;             // the adapter the scheme selects
  bool tls = false;                // rediss, amqps, tls
  std::uint16_t default_port = 0;  // the scheme's, used when port is 0
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

// Parses `text`, whose scheme must be one of `schemes`. On failure returns
// nullopt and sets `error` to a short reason that never contains the password.
std::optional<broker_url> parse_broker_url(std::string_view text,
                                           std::span<const url_scheme> schemes, std::string& error);

}  // namespace brokerside::pool
