#include "sidecar/caller_auth.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>
#include <grpcpp/server_context.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <filesystem>

#include "sidecar/access_rules.h"
#include "sidecar/adapter_registry.h"
#include "sidecar/config.h"
#include "sidecar/config_section.h"

namespace brokerside::sidecar {
namespace {

bool hex_byte(std::string_view two, unsigned char& out) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(two.data(), two.data() + 2, value, 16);
  out = static_cast<unsigned char>(value);
  return ec == std::errc() && end == two.data() + 2;
}

bool valid_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 &&
         name.find_first_not_of(
             "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
             std::string_view::npos;
}

std::string first_property(const grpc::AuthContext& auth, const char* name) {
  const auto values = auth.FindPropertyValues(name);
  return values.empty() ? std::string() : std::string(values.front().data(), values.front().size());
}

std::optional<std::chrono::system_clock::time_point> modified(const std::string& path) {
  std::error_code ec;
  const auto t = std::filesystem::last_write_time(path, ec);
  if (ec) return std::nullopt;
  return std::chrono::file_clock::to_sys(t);
}

}  // namespace

std::string parse_tokens(std::string_view text, std::vector<token_entry>& out) {
  out.clear();
  int number = 0;
  while (!text.empty()) {
    ++number;
    const auto end = text.find('\n');
    auto line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    const auto space = line.find_first_of(" \t");
    const auto where = "line " + std::to_string(number) + ": ";
    if (space == std::string_view::npos) return where + "expected NAME sha256:HEX";
    const auto name = line.substr(0, space);
    auto hash = line.substr(space + 1);
    while (!hash.empty() && (hash.front() == ' ' || hash.front() == '\t')) hash.remove_prefix(1);
    if (!valid_name(name)) return where + "a name is 1-64 of A-Z a-z 0-9 _ . -";
    if (!hash.starts_with("sha256:") || hash.size() != 7 + 64) {
      return where +
             "expected sha256: and 64 hex digits (the SHA-256 of the token, never the token)";
    }
    token_entry entry;
    entry.name = std::string(name);
    for (std::size_t i = 0; i < 32; ++i) {
      if (!hex_byte(hash.substr(7 + 2 * i, 2), entry.hash[i])) {
        return where + "expected sha256: and 64 hex digits";
      }
    }
    for (const auto& e : out) {
      if (e.name == entry.name) return where + "the name '" + entry.name + "' comes twice";
    }
    out.push_back(std::move(entry));
  }
  return {};
}

bool identity_matches(std::string_view pattern, std::string_view who) noexcept {
  return glob_matches(pattern, who);
}

caller_auth::caller_auth(const config& cfg, const unix_peer_table* unix_peers)
    : unix_peers_(unix_peers),
      tokens_file_(cfg.auth.tokens_file),
      required_(!cfg.auth.tokens_file.empty() || !cfg.listen.tls.client_ca_file.empty()),
      asks_(required_ || cfg.listen.tls.enabled() || !cfg.quotas.empty() ||
            std::any_of(cfg.targets.begin(), cfg.targets.end(),
                        [](const target_settings& t) {
                          return t.allow_send || t.allow_recv || t.allow_acquire ||
                                 !t.rules.empty();
                        })),
      callers_(cfg, asks_) {
  tokens();
}

std::shared_ptr<const std::vector<token_entry>> caller_auth::tokens() const {
  std::lock_guard lock(mutex_);
  if (tokens_file_.empty()) return tokens_;
  const auto now = std::chrono::steady_clock::now();
  if (tokens_ && now - checked_ < std::chrono::seconds(1)) return tokens_;
  checked_ = now;
  const auto time = modified(tokens_file_);
  if (tokens_ && (!time || *time == file_time_)) return tokens_;
  // The reader startup used: a regular file of at most 1 MiB.
  std::string text, unreadable;
  try {
    text = read_config_file("auth.tokens_file", tokens_file_);
  } catch (const config_error& e) {
    unreadable = e.what();
  }
  auto table = std::make_shared<std::vector<token_entry>>();
  if (!unreadable.empty()) {
    spdlog::warn("{}; keeping the tokens read before", unreadable);
  } else if (auto why = parse_tokens(text, *table); !why.empty()) {
    // A half-written file must not lock everyone out: the last good table
    // stays until the file parses again.
    spdlog::warn("auth.tokens_file: {}: {}; keeping the tokens read before", tokens_file_, why);
  } else {
    if (tokens_)
      spdlog::info("auth.tokens_file: {} read again: {} tokens", tokens_file_, table->size());
    tokens_ = std::move(table);
    if (time) file_time_ = *time;
  }
  if (!tokens_) tokens_ = std::make_shared<std::vector<token_entry>>();
  return tokens_;
}

grpc::Status caller_auth::identify(const grpc::ServerContextBase& context, std::string& who) const {
  who.clear();
  if (!asks_) return grpc::Status::OK;
  const auto& metadata = context.client_metadata();
  if (const auto it = metadata.find("authorization");
      it != metadata.end() && !tokens_file_.empty()) {
    const std::string_view value(it->second.data(), it->second.size());
    if (!value.starts_with("Bearer ")) {
      return {grpc::StatusCode::UNAUTHENTICATED, "authorization: expected \"Bearer TOKEN\""};
    }
    const auto token = value.substr(7);
    unsigned char hash[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), hash);
    const auto table = tokens();
    const token_entry* found = nullptr;
    // Every entry compared in constant time, and all of them: the time
    // taken says nothing of which (or whether one) matched.
    for (const auto& entry : *table) {
      if (CRYPTO_memcmp(hash, entry.hash.data(), SHA256_DIGEST_LENGTH) == 0) found = &entry;
    }
    if (found == nullptr) {
      return {grpc::StatusCode::UNAUTHENTICATED,
              "the bearer token matches none in auth.tokens_file"};
    }
    who = "token:" + found->name;
    return grpc::Status::OK;
  }
  if (const auto auth = context.auth_context(); auth && auth->IsPeerAuthenticated()) {
    for (const auto& [property, prefix] : {std::pair{GRPC_PEER_SPIFFE_ID_PROPERTY_NAME, ""},
                                           std::pair{GRPC_PEER_URI_PROPERTY_NAME, ""},
                                           std::pair{GRPC_PEER_DNS_PROPERTY_NAME, "dns:"},
                                           std::pair{GRPC_X509_CN_PROPERTY_NAME, "cn:"}}) {
      if (auto value = first_property(*auth, property); !value.empty()) {
        who = prefix + value;
        return grpc::Status::OK;
      }
    }
  }
  // The socket's file permissions admitted it; its credentials name it.
  if (unix_peers_) {
    if (const auto peer = unix_peers_->find(context.peer())) {
      who = unix_identity(*peer);
      return grpc::Status::OK;
    }
  }
  if (required_) {
    return {
        grpc::StatusCode::UNAUTHENTICATED,
        "who is calling? Send \"authorization: Bearer TOKEN\" metadata or connect with a client "
        "certificate"};
  }
  return grpc::Status::OK;
}

grpc::Status caller_auth::deny(const std::string& who, std::string_view rule,
                               const std::string& message) const {
  callers_.count_denied(who, rule);
  {
    // At most one line a second: a client retrying a refusal in a loop
    // must not flood the log.
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (now - last_denial_log_ >= std::chrono::seconds(1)) {
      last_denial_log_ = now;
      spdlog::warn("denied: {}", message);
    }
  }
  return {grpc::StatusCode::PERMISSION_DENIED, message};
}

namespace {

std::string caller_text(const std::string& who) {
  return who.empty() ? std::string("an unidentified caller") : "'" + who + "'";
}

}  // namespace

grpc::Status caller_auth::authorize(const target_settings& target, call_kind kind,
                                    const std::string& who) const {
  static constexpr const char* kinds[] = {"send", "recv", "acquire"};
  const auto& allowed = kind == call_kind::send   ? target.allow_send
                        : kind == call_kind::recv ? target.allow_recv
                                                  : target.allow_acquire;
  const auto kind_name = kinds[static_cast<int>(kind)];
  if (allowed && std::none_of(allowed->begin(), allowed->end(), [&](const std::string& pattern) {
        return identity_matches(pattern, who);
      })) {
    return deny(who, std::string("allow.") + kind_name,
                caller_text(who) + " may not " + kind_name + " on target '" + target.name +
                    "' (targets." + target.name + ".allow." + kind_name + ")");
  }
  if (!target.rules.empty() && rule_for(target.rules, who) == nullptr) {
    return deny(who, "rules",
                caller_text(who) + " is named by no rule of target '" + target.name +
                    "' (targets." + target.name + ".rules)");
  }
  return grpc::Status::OK;
}

grpc::Status caller_auth::reach(const target_settings& target, const access_rule& rule,
                                const std::string& who, const char* verb,
                                std::string_view destination) const {
  if (!rule.destinations ||
      std::any_of(rule.destinations->begin(), rule.destinations->end(),
                  [&](const std::string& p) { return glob_matches(p, destination); })) {
    return grpc::Status::OK;
  }
  return deny(who, "destinations",
              caller_text(who) + " may not " + verb + " '" + std::string(destination) +
                  "' on target '" + target.name + "' (" + rule.path + ".destinations)");
}

grpc::Status caller_auth::authorize_send(const target_settings& target,
                                         const v1::SendRequest& request,
                                         const std::string& who) const {
  if (auto status = authorize(target, call_kind::send, who); !status.ok()) return status;
  if (target.rules.empty()) return grpc::Status::OK;
  const auto& rule = *rule_for(target.rules, who);
  // What the operation reaches: a publish's or request's destination (its
  // routing key when that is empty: AMQP's default exchange routes to the
  // queue of that name), a command's where the adapter names one.
  std::optional<std::string_view> destination;
  const char* verb = "publish to";
  if (request.has_publish() || request.has_request()) {
    const auto& d =
        request.has_publish() ? request.publish().destination() : request.request().destination();
    const auto& key =
        request.has_publish() ? request.publish().routing_key() : request.request().routing_key();
    destination = d.empty() ? std::string_view(key) : std::string_view(d);
    if (request.has_request()) verb = "send a request to";
  } else if (request.has_command() && target.adapter->command_destination) {
    destination = target.adapter->command_destination(request.command());
  }
  if (destination) {
    if (auto status = reach(target, rule, who, verb, *destination); !status.ok()) return status;
  }
  if (request.has_command() && rule.commands && !request.command().args().empty()) {
    const auto& args = request.command().args();
    const std::string_view name = args[0];
    const std::string_view sub = args.size() > 1 ? std::string_view(args[1]) : std::string_view();
    const auto classes = target.adapter->command_classes
                             ? target.adapter->command_classes(name, sub)
                             : std::optional<std::uint64_t>();
    if (!command_allowed(*rule.commands, name, sub, classes)) {
      return deny(who, "commands",
                  caller_text(who) + " may not run '" + std::string(name) + "' on target '" +
                      target.name + "' (" + rule.path + ".commands)");
    }
  }
  return grpc::Status::OK;
}

grpc::Status caller_auth::authorize_recv(const target_settings& target,
                                         const v1::Subscribe& subscribe,
                                         const std::string& who) const {
  if (auto status = authorize(target, call_kind::recv, who); !status.ok()) return status;
  if (target.rules.empty()) return grpc::Status::OK;
  const auto& rule = *rule_for(target.rules, who);
  for (const auto& source : subscribe.sources()) {
    if (auto status = reach(target, rule, who, "receive from", source); !status.ok()) {
      return status;
    }
  }
  return grpc::Status::OK;
}

}  // namespace brokerside::sidecar
