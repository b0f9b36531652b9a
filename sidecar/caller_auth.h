// Who calls, and whether they may: a caller is named by a bearer token
// (`authorization: Bearer ...`, checked against the SHA-256 hashes of
// auth.tokens_file, re-read when it changes) or by its mTLS client
// certificate (its SPIFFE ID, URI, DNS name or CN, in that order); each
// target's `allow` lists say which callers may send, recv and acquire, and
// its `rules` which destinations and commands each may reach. Denials are
// counted per caller (caller_table) and logged at most once a second.
// Health and reflection never ask.
#pragma once

#include <grpcpp/support/status.h>

#include <array>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "brokerside/v1/brokerside.pb.h"
#include "sidecar/caller_table.h"
#include "sidecar/unix_peers.h"

namespace grpc {
class ServerContextBase;
}

namespace brokerside::sidecar {

struct config;
struct target_settings;
struct access_rule;

// One line of a tokens file: "NAME sha256:HEX" (64 hex digits).
struct token_entry {
  std::string name;                    // the caller is "token:NAME"
  std::array<unsigned char, 32> hash;  // SHA-256 of the token
};

// Parses a tokens file: '#' comments and blank lines allowed. Empty on
// success, else "line N: reason" (never the line itself). Pure.
std::string parse_tokens(std::string_view text, std::vector<token_entry>& out);

// Whether `who` matches `pattern`, where '*' stands for any run of
// characters ("token:*", "spiffe://example.org/ns/*/sa/web"). Pure.
bool identity_matches(std::string_view pattern, std::string_view who) noexcept;

enum class call_kind { send, recv, acquire };

class caller_auth {
 public:
  // Reads auth.tokens_file (the configuration has checked it). Callers on
  // the Unix socket are named by their uid and gid from `unix_peers` (null:
  // no Unix socket), which must outlive this.
  explicit caller_auth(const config& cfg, const unix_peer_table* unix_peers = nullptr);

  // Whether TCP callers must be identified: a tokens file or a client CA is
  // set.
  bool required() const noexcept { return required_; }

  // Names the caller ("token:NAME", "spiffe://...", "dns:...", "cn:...",
  // "unix:uid=U,gid=G" on the Unix socket; empty when nothing names it and
  // none is required). UNAUTHENTICATED for a token that matches none, or a TCP
  // caller without an identity where one is required.
  grpc::Status identify(const grpc::ServerContextBase& context, std::string& who) const;

  // OK if `who` may do `kind` on `target` (its allow list, and some rule
  // naming `who` where the target has rules), else PERMISSION_DENIED naming
  // the setting (targets.NAME.allow.KIND, targets.NAME.rules).
  grpc::Status authorize(const target_settings& target, call_kind kind,
                         const std::string& who) const;
  // The same for one Send operation, with the destination it publishes to
  // or requests from and the command it runs checked against the rule for
  // `who` (targets.NAME.rules[i].destinations / .commands).
  grpc::Status authorize_send(const target_settings& target, const v1::SendRequest& request,
                              const std::string& who) const;
  // The same for a Recv subscription and each of its sources.
  grpc::Status authorize_recv(const target_settings& target, const v1::Subscribe& subscribe,
                              const std::string& who) const;

  // Every caller's counters and quotas.
  caller_table& callers() const noexcept { return callers_; }

 private:
  // The token table, re-read when the file's modification time changes
  // (looked at once a second at most).
  std::shared_ptr<const std::vector<token_entry>> tokens() const;
  // OK if `rule` lets `who` `verb` ("publish to") `destination` on
  // `target`, else the denial naming rule.path's destinations.
  grpc::Status reach(const target_settings& target, const access_rule& rule, const std::string& who,
                     const char* verb, std::string_view destination) const;
  // PERMISSION_DENIED with `message`, counted for `who` under `rule` and
  // logged (at most a line a second).
  grpc::Status deny(const std::string& who, std::string_view rule,
                    const std::string& message) const;

  const unix_peer_table* unix_peers_;  // Unix socket peers, or null
  std::string tokens_file_;
  bool required_ = false;
  // Whether anything asks who calls (a tokens file, TLS, an allow list):
  // if not, identify() returns at once (no AuthContext, no peer string).
  bool asks_ = false;
  mutable std::mutex mutex_;
  mutable std::shared_ptr<const std::vector<token_entry>> tokens_;
  mutable std::chrono::steady_clock::time_point checked_{};
  mutable std::chrono::system_clock::time_point file_time_{};
  mutable std::chrono::steady_clock::time_point last_denial_log_{};
  mutable caller_table callers_;  // per identity: counters, quotas
};

}  // namespace brokerside::sidecar
