#include "sidecar/config.h"

#include <grp.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "protocol/tls.h"
#include "sidecar/adapter_registry.h"
#include "sidecar/caller_auth.h"
#include "sidecar/config_section.h"
#include "sidecar/units.h"

namespace brokerside::sidecar {
namespace {

std::string join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

void check(const std::string& path, const std::string& error) {
  if (!error.empty()) throw config_error(path + "." + error);
}

// Each reader declares its keys by reading them (config_section::done()
// refuses the rest), with the check that belongs to each beside it.

void read_pool(const config_section& s, pool::pool_settings& out) {
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
  s.done();
  check(s.where(), out.validate());
}

void read_retry(const config_section& s, pool::retry_settings& out) {
  s.read("max_retries", out.max_retries);
  s.read("initial_interval", out.initial_interval);
  s.read("multiplier", out.multiplier);
  s.read("max_interval", out.max_interval);
  s.read("jitter", out.jitter);
  s.read("budget_ratio", out.budget_ratio);
  s.read("budget_min_per_second", out.budget_min_per_second);
  s.read("budget_window", out.budget_window);
  s.done();
  check(s.where(), out.validate());
}

void read_breaker(const config_section& s, pool::breaker_settings& out) {
  s.read("failure_threshold", out.failure_threshold);
  s.read("open_timeout", out.open_timeout);
  s.done();
  check(s.where(), out.validate());
}

void read_lease(const config_section& s, pool::lease_settings& out) {
  s.read("default_ttl", out.default_ttl);
  s.read("max_ttl", out.max_ttl);
  s.done();
  check(s.where(), out.validate());
}

bool valid_target_name(const std::string& name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

// url or urls: every URL's scheme must select the same registered adapter.
void read_urls(const config_section& s, const adapter_registry& adapters, target_settings& target) {
  auto texts = s.strings("urls");
  const auto single = s.strings("url");
  if (!single.empty() && !texts.empty()) config_fail(s.path("url"), "give url or urls, not both");
  if (texts.empty()) texts = single;
  if (texts.empty()) config_fail(s.path("url"), "required (e.g. redis://127.0.0.1:6379)");
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const auto where = texts.size() == 1 && !single.empty()
                           ? s.path("url")
                           : s.path("urls") + "[" + std::to_string(i) + "]";
    std::string error;
    auto url = pool::parse_broker_url(texts[i], adapters.schemes(), error);
    if (!url) config_fail(where, error);
    if (!target.urls.empty() && url->adapter != target.urls.front().adapter) {
      config_fail(where, "all URLs of a target must use the same adapter");
    }
    target.urls.push_back(std::move(*url));
  }
  target.adapter = adapters.find(target.urls.front().adapter);
}

// password_file or password_env: the password of every URL of the target.
void read_password(const config_section& s, target_settings& target) {
  const auto password = read_secret(s, "password");
  if (!password.empty()) {
    for (auto& url : target.urls) url.password = password;
  }
}

// TLS settings apply to the TLS schemes; the context is built here so that
// an unusable file stops startup, naming it.
void read_tls(const config_section& s, target_settings& target) {
  auto& tls = target.tls;
  s.read("ca_file", tls.ca_file);
  s.read("cert_file", tls.cert_file);
  s.read("key_file", tls.key_file);
  s.read("server_name", tls.server_name);
  s.read("verify", tls.verify);
  s.done();
  const auto& url = target.urls.front();
  if (!url.tls) {
    if (s.present())
      config_fail(s.where(), "the URL scheme " + url.scheme + ":// does not use TLS");
    return;
  }
  std::string error;
  target.tls_context = protocol::make_tls_context(tls, error);
  if (!target.tls_context) {
    const auto space = error.find(' ');
    config_fail(s.path(error.substr(0, space)), error.substr(space + 1));
  }
}

// What every adapter's connections share: frame limit and water marks.
void read_connection(const config_section& s, target_settings& target) {
  s.read_size("max_frame_bytes", target.max_frame_bytes);
  if (target.max_frame_bytes < 1024 || target.max_frame_bytes > (1ull << 32)) {
    config_fail(s.path("max_frame_bytes"), "must be between 1KiB and 4GiB");
  }
  s.read_size("write_high_water", target.write_high_water);
  s.read_size("write_low_water", target.write_low_water);
  if (target.write_high_water != 0 && target.write_low_water >= target.write_high_water) {
    config_fail(s.path("write_low_water"), "must be below write_high_water");
  }
}

// Caller patterns: a list of at least one, none empty.
std::vector<std::string> read_callers(const config_section& s) {
  auto callers = s.strings("callers");
  if (callers.empty()) {
    config_fail(s.path("callers"),
                "required: the callers this applies to (identity patterns, '*' for everyone)");
  }
  for (const auto& pattern : callers) {
    if (pattern.empty()) config_fail(s.path("callers"), "an empty caller pattern");
  }
  return callers;
}

void read_rules(const config_section& s, target_settings& target) {
  for (const auto& r : s.sections("rules")) {
    access_rule rule;
    rule.path = r.where();
    rule.callers = read_callers(r);
    if (r.get("destinations")) rule.destinations = r.strings("destinations");
    if (r.get("commands")) {
      const auto texts = r.strings("commands");
      rule.commands.emplace();
      for (std::size_t i = 0; i < texts.size(); ++i) {
        command_rule item;
        if (auto why = parse_command_rule(texts[i], target.adapter->command_class_names, item);
            !why.empty()) {
          config_fail(r.path("commands") + "[" + std::to_string(i) + "]", why);
        }
        rule.commands->push_back(std::move(item));
      }
    }
    r.done();
    target.rules.push_back(std::move(rule));
  }
}

target_settings read_target(const config_section& s, const std::string& name,
                            const adapter_registry& adapters) {
  if (!valid_target_name(name)) {
    config_fail(s.where(), "target names are 1-64 of A-Z a-z 0-9 _ -");
  }
  target_settings target;
  target.name = name;
  read_urls(s, adapters, target);

  std::string failover = "round_robin";
  s.read("failover", failover);
  if (failover == "round_robin") {
    target.failover = pool::failover_strategy::round_robin;
  } else if (failover == "shuffle") {
    target.failover = pool::failover_strategy::shuffle;
  } else {
    config_fail(s.path("failover"), "must be round_robin or shuffle, not '" + failover + "'");
  }
  read_password(s, target);
  read_connection(s, target);
  read_tls(s.child("tls"), target);
  read_pool(s.child("pool"), target.pool);
  read_retry(s.child("retry"), target.retry);
  read_breaker(s.child("breaker"), target.breaker);
  read_lease(s.child("lease"), target.lease);
  const auto allow = s.child("allow");
  if (allow.present()) {
    const std::pair<const char*, std::optional<std::vector<std::string>>*> kinds[] = {
        {"send", &target.allow_send},
        {"recv", &target.allow_recv},
        {"acquire", &target.allow_acquire}};
    for (const auto& [key, into] : kinds) {
      if (!allow.get(key)) continue;
      *into = allow.strings(key);
      for (const auto& pattern : **into) {
        if (pattern.empty()) config_fail(allow.path(key), "an empty caller pattern");
      }
    }
    allow.done();
  }
  read_rules(s, target);
  if (target.adapter->read_options) target.options = target.adapter->read_options(s, target);
  s.done();
  return target;
}

void check_host_port(const std::string& path, const std::string& text) {
  if (!parse_host_port(text))
    config_fail(path, "'" + text + "' is not host:port (e.g. 127.0.0.1:7300)");
}

void apply_override(YAML::Node& root, const setting_override& o) {
  std::vector<std::string> parts;
  std::string_view rest = o.path;
  while (true) {
    const auto dot = rest.find('.');
    parts.emplace_back(rest.substr(0, dot));
    if (parts.back().empty()) config_fail(o.path, "empty component in the setting's name");
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
      config_fail(walked, "is not a mapping, so " + o.path + " cannot be set");
    }
    cursor.reset(next);
  }
  cursor[parts.back()] = value;
}

void read_listen(const config_section& s, listen_settings& out) {
  s.read("grpc", out.grpc);
  if (!out.grpc.empty()) check_host_port(s.path("grpc"), out.grpc);
  s.read("unix_socket", out.unix_socket);
  if (!out.unix_socket.empty() && out.unix_socket.front() != '/') {
    config_fail(s.path("unix_socket"), "must be an absolute path");
  }
  if (s.get("unix_socket_mode")) {
    // Octal, as chmod takes it ("0660"); YAML would read 0660 as a number.
    const auto text = s.scalar("unix_socket_mode");
    std::uint32_t m = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), m, 8);
    if (ec != std::errc() || end != text.data() + text.size() || m > 0777 || text.empty()) {
      config_fail(s.path("unix_socket_mode"), "'" + text + "' is not an octal mode like \"0660\"");
    }
    out.unix_socket_mode = m;
  }
  if (s.get("unix_socket_group")) {
    const auto text = s.scalar("unix_socket_group");
    std::uint32_t gid = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), gid);
    if (ec == std::errc() && end == text.data() + text.size()) {
      out.unix_socket_group = gid;
    } else if (const ::group* g = ::getgrnam(text.c_str()); g != nullptr) {
      out.unix_socket_group = g->gr_gid;
    } else {
      config_fail(s.path("unix_socket_group"), "'" + text + "' is neither a gid nor a known group");
    }
  }
  if (out.grpc.empty() && out.unix_socket.empty()) {
    config_fail(s.path("grpc"), "empty, and no listen.unix_socket either: nothing to serve on");
  }
  s.read("admin", out.admin);
  if (!out.admin.empty()) check_host_port(s.path("admin"), out.admin);
  const auto tls = s.child("tls");
  tls.read("cert_file", out.tls.cert_file);
  tls.read("key_file", out.tls.key_file);
  tls.read("client_ca_file", out.tls.client_ca_file);
  tls.read("reload_interval", out.tls.reload_interval);
  tls.done();
  if (auto why = check_server_tls(out.tls, s.path("tls")); !why.empty()) {
    const auto colon = why.find(": ");
    config_fail(why.substr(0, colon), why.substr(colon + 2));
  }
  s.done();
}

void read_auth(const config_section& s, auth_settings& out) {
  s.read("tokens_file", out.tokens_file);
  s.done();
  if (out.tokens_file.empty()) return;
  const auto text = read_config_file(s.path("tokens_file"), out.tokens_file);
  std::vector<token_entry> tokens;
  if (auto why = parse_tokens(text, tokens); !why.empty()) {
    config_fail(s.path("tokens_file"), out.tokens_file + ", " + why);
  }
}

void read_quotas(const config_section& s, std::vector<quota_settings>& out) {
  for (const auto& q : s.sections("quotas")) {
    quota_settings quota;
    quota.path = q.where();
    quota.callers = read_callers(q);
    q.read("operations_per_second", quota.operations_per_second);
    if (!(quota.operations_per_second >= 0 && quota.operations_per_second <= 1e9)) {
      config_fail(q.path("operations_per_second"), "must be from 0 (no limit) to 1e9");
    }
    q.read_size("bytes_per_second", quota.bytes_per_second);
    q.read("burst", quota.burst);
    if (quota.burst < std::chrono::milliseconds(1) || quota.burst > std::chrono::hours(1)) {
      config_fail(q.path("burst"), "must be between 1ms and 1h");
    }
    q.read("in_flight", quota.in_flight);
    q.read("streams", quota.streams);
    q.done();
    out.push_back(std::move(quota));
  }
}

void read_server(const config_section& s, server_settings& out) {
  s.read("threads", out.threads);
  if (out.threads > 1024) config_fail(s.path("threads"), "must be at most 1024");
  s.read_size("max_message_bytes", out.max_message_bytes);
  if (out.max_message_bytes < 1024 || out.max_message_bytes > (1u << 30)) {
    config_fail(s.path("max_message_bytes"), "must be between 1KiB and 1GiB");
  }
  s.read("keepalive_time", out.keepalive_time);
  s.read("keepalive_timeout", out.keepalive_timeout);
  s.read("shutdown_grace", out.shutdown_grace);
  s.read("drain_delay", out.drain_delay);
  if (out.drain_delay > out.shutdown_grace) {
    config_fail(s.path("drain_delay"), "must not exceed server.shutdown_grace");
  }
  s.read("allow_insecure_remote", out.allow_insecure_remote);
  s.read("hold_writes", out.hold_writes);
  s.read_size("max_memory", out.max_memory);
  const auto per_client = s.child("per_client");
  per_client.read("in_flight", out.per_client.in_flight);
  per_client.read("streams", out.per_client.streams);
  per_client.done();
  s.done();
}

// Secure by default: a gRPC listener other hosts can reach must check who
// calls (TLS, bearer tokens), unless the configuration says otherwise.
void check_exposure(const config& c) {
  if (!exposed_without_auth(c) || c.server.allow_insecure_remote) return;
  config_fail("listen.grpc",
              "'" + c.listen.grpc +
                  "' can be reached from other hosts and nothing checks who calls: listen on "
                  "127.0.0.1 or a Unix socket, or set listen.tls or auth.tokens_file (or "
                  "server.allow_insecure_remote: true where a network policy keeps others out)");
}

void read_log(const config_section& s, log_settings& out) {
  s.read("level", out.level);
  static constexpr std::string_view levels[] = {"trace", "debug", "info", "warn", "error", "off"};
  if (std::find(std::begin(levels), std::end(levels), out.level) == std::end(levels)) {
    config_fail(s.path("level"),
                "must be trace, debug, info, warn, error or off, not '" + out.level + "'");
  }
  std::string format = "text";
  s.read("format", format);
  if (format == "text") {
    out.format = log_format::text;
  } else if (format == "json") {
    out.format = log_format::json;
  } else {
    config_fail(s.path("format"), "must be text or json, not '" + format + "'");
  }
  s.read("access_sample", out.access_sample);
  if (!(out.access_sample >= 0 && out.access_sample <= 1)) {
    config_fail(s.path("access_sample"), "must be a share from 0 to 1");
  }
  s.done();
}

void read_tracing(const config_section& s, tracing_settings& out) {
  s.read("generate", out.generate);
  s.done();
}

void read_readiness(const config_section& s, config& out) {
  out.readiness.required_targets = s.strings("required_targets");
  for (const auto& name : out.readiness.required_targets) {
    if (out.find_target(name) == nullptr) {
      config_fail(s.path("required_targets"), "no target named '" + name + "'");
    }
  }
  s.done();
}

}  // namespace

bool exposed_without_auth(const config& c) noexcept {
  return !c.listen.grpc.empty() && !loopback_address(c.listen.grpc) && !c.listen.tls.enabled() &&
         c.auth.tokens_file.empty();
}

bool loopback_address(std::string_view host_port) noexcept {
  std::string_view host = host_port.substr(0, host_port.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const bool dotted = std::all_of(host.begin(), host.end(),
                                  [](char ch) { return (ch >= '0' && ch <= '9') || ch == '.'; });
  return host == "localhost" || host == "::1" || (host.starts_with("127.") && dotted);
}

const target_settings* config::find_target(std::string_view name) const {
  for (const auto& target : targets) {
    if (target.name == name) return &target;
  }
  return nullptr;
}

config load_config(std::string_view yaml_text, const std::vector<setting_override>& overrides,
                   const adapter_registry& adapters) {
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
    const config_section top(root, "");
    read_listen(top.child("listen"), out.listen);
    read_auth(top.child("auth"), out.auth);
    read_quotas(top, out.quotas);
    read_server(top.child("server"), out.server);
    read_log(top.child("log"), out.log);
    read_tracing(top.child("tracing"), out.tracing);
    const auto targets = top.child("targets");
    if (targets.present()) {
      for (const auto& entry : targets.node()) {
        const auto name = entry.first.as<std::string>();
        out.targets.push_back(read_target(targets.child(name), name, adapters));
      }
    }
    // Unknown top-level keys first: a misspelt "targets" should be named
    // itself rather than through readiness missing its targets.
    const auto readiness = top.child("readiness");
    top.done();
    read_readiness(readiness, out);
    check_exposure(out);
  } catch (const YAML::Exception& e) {
    throw config_error("line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return out;
}

}  // namespace brokerside::sidecar
