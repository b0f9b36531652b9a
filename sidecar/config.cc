#include "sidecar/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>

#include "protocol/stream.h"
#include "protocol/tls.h"
#include "sidecar/units.h"

namespace brokerside::sidecar {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& reason) {
  throw config_error(path + ": " + reason);
}

std::string join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

// A YAML mapping read with its dotted path, so every error names the setting.
// Keys the schema does not know are errors, not silently ignored typos.
class section {
 public:
  section(YAML::Node node, std::string path) : node_(std::move(node)), path_(std::move(path)) {
    if (node_ && !node_.IsNull() && !node_.IsMap()) fail(path_, "must be a mapping");
  }

  void allow_only(std::initializer_list<std::string_view> keys) const {
    if (!node_ || node_.IsNull()) return;
    for (const auto& entry : node_) {
      const auto key = entry.first.as<std::string>();
      if (std::find(keys.begin(), keys.end(), key) != keys.end()) continue;
      std::string known;
      for (const auto k : keys) known += (known.empty() ? "" : ", ") + std::string(k);
      fail(join(path_, key), "unknown setting (known here: " + known + ")");
    }
  }

  // The value at `key`; invalid (false) if absent or null, so defaults hold.
  // Lookups go through a const node: yaml-cpp's non-const operator[] inserts.
  YAML::Node get(const std::string& key) const {
    const YAML::Node& node = node_;
    if (!node || node.IsNull()) return YAML::Node(YAML::NodeType::Undefined);
    auto value = node[key];
    if (!value || value.IsNull()) return YAML::Node(YAML::NodeType::Undefined);
    return value;
  }

  section child(const std::string& key) const { return {get(key), join(path_, key)}; }
  std::string path(const std::string& key) const { return join(path_, key); }
  const std::string& where() const { return path_; }
  const YAML::Node& node() const { return node_; }

  std::string scalar(const std::string& key) const {
    const auto value = get(key);
    if (!value.IsScalar()) fail(path(key), "must be a single value");
    return value.Scalar();
  }

  void read(const std::string& key, std::string& out) const {
    if (get(key)) out = scalar(key);
  }

  void read(const std::string& key, bool& out) const {
    if (!get(key)) return;
    const auto text = scalar(key);
    if (text == "true") {
      out = true;
    } else if (text == "false") {
      out = false;
    } else {
      fail(path(key), "must be true or false, not '" + text + "'");
    }
  }

  void read(const std::string& key, std::uint32_t& out) const {
    if (!get(key)) return;
    const auto value = read_unsigned(key);
    if (value > std::numeric_limits<std::uint32_t>::max()) fail(path(key), "too large");
    out = static_cast<std::uint32_t>(value);
  }

  void read(const std::string& key, double& out) const {
    if (!get(key)) return;
    const auto text = scalar(key);
    char* end = nullptr;
    errno = 0;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || errno != 0) fail(path(key), "must be a number");
    out = value;
  }

  void read(const std::string& key, std::chrono::milliseconds& out) const {
    if (!get(key)) return;
    const auto text = scalar(key);
    const auto value = parse_duration(text);
    if (!value) fail(path(key), "'" + text + "' is not a duration (e.g. 250ms, 5s, 2m, 1h, 0)");
    out = *value;
  }

  void read_size(const std::string& key, std::uint64_t& out) const {
    if (!get(key)) return;
    const auto text = scalar(key);
    const auto value = parse_size(text);
    if (!value) fail(path(key), "'" + text + "' is not a size (e.g. 4MiB, 65536)");
    out = *value;
  }

  std::vector<std::string> strings(const std::string& key) const {
    std::vector<std::string> out;
    const auto value = get(key);
    if (!value) return out;
    if (value.IsScalar()) return {value.Scalar()};
    if (!value.IsSequence()) fail(path(key), "must be a list");
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (!value[i].IsScalar()) fail(path(key) + "[" + std::to_string(i) + "]", "must be a value");
      out.push_back(value[i].Scalar());
    }
    return out;
  }

 private:
  std::uint64_t read_unsigned(const std::string& key) const {
    const auto text = scalar(key);
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
      fail(path(key), "must be a non-negative integer, not '" + text + "'");
    }
    errno = 0;
    const auto value = std::strtoull(text.c_str(), nullptr, 10);
    if (errno != 0) fail(path(key), "too large");
    return value;
  }

  YAML::Node node_;
  std::string path_;
};

void check(const std::string& path, const std::string& error) {
  if (!error.empty()) throw config_error(path + "." + error);
}

void read_pool(const section& s, pool::pool_settings& out) {
  s.allow_only({"min_idle", "max_connections", "max_pending", "acquire_timeout", "connect_timeout",
                "idle_timeout", "max_lifetime", "lifetime_jitter", "health_check_interval",
                "max_in_flight"});
  s.read("min_idle", out.min_idle);
  s.read("max_connections", out.max_connections);
  s.read("max_pending", out.max_pending);
  s.read("acquire_timeout", out.acquire_timeout);
  s.read("connect_timeout", out.connect_timeout);
  s.read("idle_timeout", out.idle_timeout);
  s.read("max_lifetime", out.max_lifetime);
  s.read("lifetime_jitter", out.lifetime_jitter);
  s.read("health_check_interval", out.health_check_interval);
  s.read("max_in_flight", out.max_in_flight);
}

void read_retry(const section& s, pool::retry_settings& out) {
  s.allow_only({"max_retries", "initial_interval", "multiplier", "max_interval", "jitter",
                "budget_ratio", "budget_min_per_second", "budget_window"});
  s.read("max_retries", out.max_retries);
  s.read("initial_interval", out.initial_interval);
  s.read("multiplier", out.multiplier);
  s.read("max_interval", out.max_interval);
  s.read("jitter", out.jitter);
  s.read("budget_ratio", out.budget_ratio);
  s.read("budget_min_per_second", out.budget_min_per_second);
  s.read("budget_window", out.budget_window);
}

std::string read_secret_file(const std::string& path, const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(path, "cannot read '" + file + "': " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  auto secret = text.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) fail(path, "'" + file + "' is empty");
  return secret;
}

bool valid_target_name(const std::string& name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

// TLS settings apply to the TLS schemes (rediss, amqps, tls); the context is
// built here so that an unusable file stops startup, naming it.
void read_tls(const section& s, pool::target_config& target) {
  s.allow_only({"ca_file", "cert_file", "key_file", "server_name", "verify"});
  auto& tls = target.tls;
  s.read("ca_file", tls.ca_file);
  s.read("cert_file", tls.cert_file);
  s.read("key_file", tls.key_file);
  s.read("server_name", tls.server_name);
  s.read("verify", tls.verify);
  const auto& url = target.urls.front();
  if (!url.tls) {
    if (s.node() && !s.node().IsNull())
      fail(s.where(), "the URL scheme " + url.scheme + ":// does not use TLS");
    return;
  }
  std::string error;
  target.tls_context = protocol::make_tls_context(tls, error);
  if (!target.tls_context) {
    const auto space = error.find(' ');
    fail(s.path(error.substr(0, space)), error.substr(space + 1));
  }
}

// A framed target's listen URL and reply timeout; neither on other targets.
void read_framed(const section& s, pool::target_config& target) {
  const bool framed = target.adapter() == protocol::adapter_kind::framed;
  std::string listen;
  s.read("listen", listen);
  if (!listen.empty()) {
    if (!framed) fail(s.path("listen"), "only framed targets listen for their peers' clients");
    std::string error;
    auto url = pool::parse_broker_url(listen, error);
    if (!url) fail(s.path("listen"), error);
    if (url->adapter != protocol::adapter_kind::framed) {
      fail(s.path("listen"), "'" + url->redacted + "' is not a framed:// or framed+unix:// URL");
    }
    if (url->tls) fail(s.path("listen"), "TLS is not offered to framed clients yet");
    if (url->unix_path.empty() && url->port == 0) {
      fail(s.path("listen"), "'" + url->redacted + "' needs a port (e.g. framed://127.0.0.1:9100)");
    }
    if (url->unix_path.empty() && !protocol::is_ip_address(url->host)) {
      fail(s.path("listen"),
           "'" + url->host + "' is not an IP address (listen on 127.0.0.1, ::1, 0.0.0.0, ...)");
    }
    if (url->unix_path.size() > protocol::max_unix_path()) {
      fail(s.path("listen"), "the socket path is longer than " +
                                 std::to_string(protocol::max_unix_path()) + " bytes");
    }
    target.listen = std::move(*url);
  }
  s.read("reply_timeout", target.reply_timeout);
  if (s.get("reply_timeout") && !framed) {
    fail(s.path("reply_timeout"), "only framed targets take requests from their peers");
  }
  if (target.reply_timeout <= pool::millis(0)) fail(s.path("reply_timeout"), "must be positive");
}

pool::target_config read_target(const section& s, const std::string& name) {
  s.allow_only({"url", "urls", "failover", "password_file", "password_env", "pool", "retry",
                "breaker", "lease", "max_frame_bytes", "write_high_water", "write_low_water", "tls",
                "listen", "reply_timeout"});
  if (!valid_target_name(name)) {
    fail(s.where(), "target names are 1-64 of A-Z a-z 0-9 _ -");
  }
  pool::target_config target;
  target.name = name;

  auto texts = s.strings("urls");
  const auto single = s.strings("url");
  if (!single.empty() && !texts.empty()) fail(s.path("url"), "give url or urls, not both");
  if (texts.empty()) texts = single;
  if (texts.empty()) fail(s.path("url"), "required (e.g. redis://127.0.0.1:6379)");
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const auto where = texts.size() == 1 && !single.empty()
                           ? s.path("url")
                           : s.path("urls") + "[" + std::to_string(i) + "]";
    std::string error;
    auto url = pool::parse_broker_url(texts[i], error);
    if (!url) fail(where, error);
    if (!target.urls.empty() && url->adapter != target.urls.front().adapter) {
      fail(where, "all URLs of a target must use the same adapter");
    }
    target.urls.push_back(std::move(*url));
  }

  std::string failover = "round_robin";
  s.read("failover", failover);
  if (failover == "round_robin") {
    target.failover = pool::failover_strategy::round_robin;
  } else if (failover == "shuffle") {
    target.failover = pool::failover_strategy::shuffle;
  } else {
    fail(s.path("failover"), "must be round_robin or shuffle, not '" + failover + "'");
  }

  std::string password_file;
  std::string password_env;
  s.read("password_file", password_file);
  s.read("password_env", password_env);
  if (!password_file.empty() && !password_env.empty()) {
    fail(s.path("password_file"), "give password_file or password_env, not both");
  }
  std::string password;
  if (!password_file.empty()) password = read_secret_file(s.path("password_file"), password_file);
  if (!password_env.empty()) {
    const char* value = std::getenv(password_env.c_str());
    if (value == nullptr || *value == '\0') {
      fail(s.path("password_env"), "environment variable " + password_env + " is not set");
    }
    password = value;
  }
  if (!password.empty()) {
    for (auto& url : target.urls) url.password = password;
  }

  s.read_size("max_frame_bytes", target.max_frame_bytes);
  if (target.max_frame_bytes < 1024 || target.max_frame_bytes > (1ull << 32)) {
    fail(s.path("max_frame_bytes"), "must be between 1KiB and 4GiB");
  }
  s.read_size("write_high_water", target.write_high_water);
  s.read_size("write_low_water", target.write_low_water);
  if (target.write_high_water != 0 && target.write_low_water >= target.write_high_water) {
    fail(s.path("write_low_water"), "must be below write_high_water");
  }
  read_tls(s.child("tls"), target);
  read_framed(s, target);
  read_pool(s.child("pool"), target.pool);
  check(s.path("pool"), target.pool.validate());
  read_retry(s.child("retry"), target.retry);
  check(s.path("retry"), target.retry.validate());
  const auto breaker = s.child("breaker");
  breaker.allow_only({"failure_threshold", "open_timeout"});
  breaker.read("failure_threshold", target.breaker.failure_threshold);
  breaker.read("open_timeout", target.breaker.open_timeout);
  check(s.path("breaker"), target.breaker.validate());
  const auto lease = s.child("lease");
  lease.allow_only({"default_ttl", "max_ttl"});
  lease.read("default_ttl", target.lease.default_ttl);
  lease.read("max_ttl", target.lease.max_ttl);
  check(s.path("lease"), target.lease.validate());
  return target;
}

void check_host_port(const std::string& path, const std::string& text) {
  if (!parse_host_port(text)) fail(path, "'" + text + "' is not host:port (e.g. 127.0.0.1:7300)");
}

void apply_override(YAML::Node& root, const setting_override& o) {
  std::vector<std::string> parts;
  std::string_view rest = o.path;
  while (true) {
    const auto dot = rest.find('.');
    parts.emplace_back(rest.substr(0, dot));
    if (parts.back().empty()) fail(o.path, "empty component in the setting's name");
    if (dot == std::string_view::npos) break;
    rest = rest.substr(dot + 1);
  }
  YAML::Node value;
  if (o.literal) {
    value = YAML::Node(o.value);
  } else {
    try {
      value = YAML::Load(o.value);
    } catch (const YAML::Exception&) {
      value = YAML::Node(o.value);
    }
    if (value.IsNull() && o.value.empty()) value = YAML::Node(std::string());
  }
  // Walk (creating) the mappings; reset() rebinds without touching the tree.
  YAML::Node cursor;
  cursor.reset(root);
  std::string walked;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    walked = join(walked, parts[i]);
    YAML::Node next = cursor[parts[i]];
    if (!next || next.IsNull()) {
      next = YAML::Node(YAML::NodeType::Map);
      cursor[parts[i]] = next;
      next.reset(cursor[parts[i]]);
    } else if (!next.IsMap()) {
      fail(walked, "is not a mapping, so " + o.path + " cannot be set");
    }
    cursor.reset(next);
  }
  cursor[parts.back()] = value;
}

}  // namespace

const pool::target_config* config::find_target(std::string_view name) const {
  for (const auto& target : targets) {
    if (target.name == name) return &target;
  }
  return nullptr;
}

config load_config(std::string_view yaml_text, const std::vector<setting_override>& overrides) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    throw config_error("line " + std::to_string(e.mark.line + 1) + ", column " +
                       std::to_string(e.mark.column + 1) + ": malformed YAML: " + e.msg);
  }
  if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) throw config_error("the configuration must be a YAML mapping");
  for (const auto& o : overrides) apply_override(root, o);

  config out;
  try {
    const section top(root, "");
    top.allow_only({"listen", "server", "log", "readiness", "targets"});

    const auto listen = top.child("listen");
    listen.allow_only({"grpc", "unix_socket", "admin"});
    listen.read("grpc", out.listen.grpc);
    listen.read("unix_socket", out.listen.unix_socket);
    listen.read("admin", out.listen.admin);
    if (!out.listen.grpc.empty()) check_host_port("listen.grpc", out.listen.grpc);
    if (!out.listen.admin.empty()) check_host_port("listen.admin", out.listen.admin);
    if (out.listen.grpc.empty() && out.listen.unix_socket.empty()) {
      fail("listen.grpc", "empty, and no listen.unix_socket either: nothing to serve on");
    }
    if (!out.listen.unix_socket.empty() && out.listen.unix_socket.front() != '/') {
      fail("listen.unix_socket", "must be an absolute path");
    }

    const auto server = top.child("server");
    server.allow_only({"threads", "max_message_bytes", "keepalive_time", "keepalive_timeout",
                       "shutdown_grace", "drain_delay"});
    server.read("threads", out.server.threads);
    server.read_size("max_message_bytes", out.server.max_message_bytes);
    server.read("keepalive_time", out.server.keepalive_time);
    server.read("keepalive_timeout", out.server.keepalive_timeout);
    server.read("shutdown_grace", out.server.shutdown_grace);
    server.read("drain_delay", out.server.drain_delay);
    if (out.server.drain_delay > out.server.shutdown_grace) {
      fail("server.drain_delay", "must not exceed server.shutdown_grace");
    }
    if (out.server.threads > 1024) fail("server.threads", "must be at most 1024");
    if (out.server.max_message_bytes < 1024 || out.server.max_message_bytes > (1u << 30)) {
      fail("server.max_message_bytes", "must be between 1KiB and 1GiB");
    }

    const auto log = top.child("log");
    log.allow_only({"level", "format"});
    log.read("level", out.log.level);
    static constexpr std::string_view levels[] = {"trace", "debug", "info", "warn", "error", "off"};
    if (std::find(std::begin(levels), std::end(levels), out.log.level) == std::end(levels)) {
      fail("log.level",
           "must be trace, debug, info, warn, error or off, not '" + out.log.level + "'");
    }
    std::string format = "text";
    log.read("format", format);
    if (format == "text") {
      out.log.format = log_format::text;
    } else if (format == "json") {
      out.log.format = log_format::json;
    } else {
      fail("log.format", "must be text or json, not '" + format + "'");
    }

    const auto targets = top.child("targets");
    if (targets.node()) {
      for (const auto& entry : targets.node()) {
        const auto name = entry.first.as<std::string>();
        out.targets.push_back(read_target(targets.child(name), name));
      }
    }

    const auto readiness = top.child("readiness");
    readiness.allow_only({"required_targets"});
    out.readiness.required_targets = readiness.strings("required_targets");
    for (const auto& name : out.readiness.required_targets) {
      if (out.find_target(name) == nullptr) {
        fail("readiness.required_targets", "no target named '" + name + "'");
      }
    }
  } catch (const YAML::Exception& e) {
    throw config_error("line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return out;
}

}  // namespace brokerside::sidecar
