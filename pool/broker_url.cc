#include "pool/broker_url.h"

#include <algorithm>
#include <charconv>

namespace brokerside::pool {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = hex_digit(in[i + 1]);
    const int lo = hex_digit(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

// A '/' or '?' left unencoded in a password ends the host early: the rest
// of the password would be taken for the path or an option, and shown,
// unredacted, in logs and Stats. Such a URL is refused, without echoing it.
constexpr const char* misplaced_at =
    "an '@' after the host: percent-encode '/' and '?' in a password (%2F, %3F), and '@' in a "
    "path or option name (%40)";

bool parse_options(std::string_view query, broker_url& url, std::string& error) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    if (pair.substr(0, eq).find('@') != std::string_view::npos) {
      error = misplaced_at;
      return false;
    }
    std::string key;
    std::string value;
    if (!percent_decode(pair.substr(0, eq), key) ||
        !percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), value)) {
      error = "bad percent-encoding in the options";
      return false;
    }
    if (key.empty()) {
      error = "an option has no name";
      return false;
    }
    url.options.emplace_back(std::move(key), std::move(value));
  }
  return true;
}

// host, [v6], host:port or [v6]:port.
bool parse_host_port(std::string_view hostport, broker_url& url, std::string& error) {
  std::string_view port_text;
  if (!hostport.empty() && hostport.front() == '[') {
    const auto close = hostport.find(']');
    if (close == std::string_view::npos) {
      error = "unterminated '[' in the host";
      return false;
    }
    url.host = std::string(hostport.substr(1, close - 1));
    const auto rest = hostport.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        error = "unexpected text after ']'";
        return false;
      }
      port_text = rest.substr(1);
    }
  } else {
    const auto colon = hostport.rfind(':');
    url.host = std::string(hostport.substr(0, colon));
    if (colon != std::string_view::npos) port_text = hostport.substr(colon + 1);
  }
  if (url.host.empty()) {
    error = "no host";
    return false;
  }
  if (!port_text.empty()) {
    unsigned port = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      error = "port '" + std::string(port_text) + "' is not a number in 1-65535";
      return false;
    }
    url.port = static_cast<std::uint16_t>(port);
  }
  return true;
}

}  // namespace

std::optional<std::string_view> broker_url::option(std::string_view key) const {
  for (const auto& [k, v] : options) {
    if (k == key) return std::string_view(v);
  }
  return std::nullopt;
}

std::optional<broker_url> parse_broker_url(std::string_view text,
                                           std::span<const url_scheme> schemes,
                                           std::string& error) {
  const auto sep = text.find("://");
  if (sep == std::string_view::npos || sep == 0) {
    error = "not a URL (expected scheme://...)";
    return std::nullopt;
  }
  broker_url url;
  url.scheme = std::string(text.substr(0, sep));
  const auto known = std::find_if(schemes.begin(), schemes.end(),
                                  [&](const url_scheme& s) { return s.scheme == url.scheme; });
  if (known == schemes.end()) {
    error = "unknown URL scheme '" + url.scheme + "' (known: ";
    for (const auto& s : schemes) {
      error += s.scheme;
      error += &s == &schemes.back() ? ")" : ", ";
    }
    if (schemes.empty()) error += "none)";
    return std::nullopt;
  }
  url.adapter = std::string(known->adapter);
  url.tls = known->tls;
  url.default_port = known->default_port;
  const bool unix_socket = known->unix_socket;
  const bool user_alone_is_secret = known->user_alone_is_secret;

  std::string_view rest = text.substr(sep + 3);
  const auto question = rest.find('?');
  if (question != std::string_view::npos) {
    if (!parse_options(rest.substr(question + 1), url, error)) return std::nullopt;
    rest = rest.substr(0, question);
  }
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  const std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (!unix_socket && path.find('@') != std::string_view::npos) {
    error = misplaced_at;
    return std::nullopt;
  }

  // Everything up to the last '@' is user info, so passwords may contain '@'
  // unencoded, as kombu and redis-py accept.
  std::size_t password_begin = std::string_view::npos;
  std::size_t password_end = std::string_view::npos;
  const auto at = authority.rfind('@');
  if (at != std::string_view::npos) {
    const auto userinfo = authority.substr(0, at);
    const auto colon = userinfo.find(':');
    if (!percent_decode(userinfo.substr(0, colon), url.user)) {
      error = "bad percent-encoding in the user name";
      return std::nullopt;
    }
    if (colon != std::string_view::npos) {
      if (!percent_decode(userinfo.substr(colon + 1), url.password)) {
        error = "bad percent-encoding in the password";
        return std::nullopt;
      }
      password_begin = sep + 3 + colon + 1;
      password_end = sep + 3 + at;
    } else if (user_alone_is_secret && at > 0) {
      password_begin = sep + 3;
      password_end = sep + 3 + at;
    }
    authority = authority.substr(at + 1);
  }

  if (unix_socket) {
    if (!authority.empty()) {
      error = "a Unix socket URL has no host: write " + url.scheme + ":///path/to.sock";
      return std::nullopt;
    }
    if (path.size() < 2) {
      error = "no socket path";
      return std::nullopt;
    }
    if (!percent_decode(path, url.unix_path)) {
      error = "bad percent-encoding in the socket path";
      return std::nullopt;
    }
  } else {
    if (!parse_host_port(authority, url, error)) return std::nullopt;
    if (!path.empty() && !percent_decode(path.substr(1), url.path)) {
      error = "bad percent-encoding in the path";
      return std::nullopt;
    }
  }

  url.redacted = std::string(text);
  if (password_begin != std::string_view::npos) {
    url.redacted.replace(password_begin, password_end - password_begin, "***");
  }
  return url;
}

}  // namespace brokerside::pool
