// The sidecar's configuration: one YAML document whose every setting a
// command-line flag can override, validated once at startup. Errors name the
// setting ("targets.cache.pool.max_connections: must be at least 1").
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sidecar/client_limits.h"
#include "sidecar/server_tls.h"
#include "sidecar/target_settings.h"

namespace brokerside::sidecar {

struct listen_settings {
  std::string grpc = "127.0.0.1:7300";             // host:port for gRPC; "" disables TCP
  std::string unix_socket;                         // also serve gRPC on this socket path
  std::uint32_t unix_socket_mode = 0660;           // its permissions: owner and group may connect
  std::optional<std::uint32_t> unix_socket_group;  // its group (a gid); unset: the process's
  std::string admin = "127.0.0.1:7301";            // /healthz, /readyz, /metrics; "" disables
  server_tls_settings tls;                         // TLS (mTLS) on the grpc TCP listener
};

struct server_settings {
  std::uint32_t threads = 0;                            // I/O threads; 0: one per core
  std::uint64_t max_message_bytes = 4 << 20;            // larger requests: RESOURCE_EXHAUSTED
  std::chrono::milliseconds keepalive_time{30'000};     // ping idle clients; 0: off
  std::chrono::milliseconds keepalive_timeout{10'000};  // drop a client not answering
  std::chrono::milliseconds shutdown_grace{10'000};     // drain time after SIGTERM
  // Of the grace, how long new calls are refused with UNAVAILABLE before the
  // listeners close; 0: close at once. (A call racing the close itself may be
  // answered CANCELLED by gRPC core, grpc/grpc#41785; it was not run.)
  std::chrono::milliseconds drain_delay{0};
  // Serve gRPC on a TCP address other hosts can reach without TLS or
  // bearer tokens (warned at every start). False: such a listener stops
  // startup, since whoever reaches it uses every target's credentials.
  bool allow_insecure_remote = false;
  // Hold a client's responses that are finished together (gRPC's writes on
  // an I/O thread in one turn) and push them out at the turn's end, in one
  // TCP segment (sidecar/held_writes.h). False: each leaves as gRPC writes it.
  bool hold_writes = true;
  // Above this resident memory, new work is refused with RESOURCE_EXHAUSTED
  // (sidecar/memory_guard.h) instead of the kernel's OOM killer ending the
  // process; set it below the container's memory limit. 0: off.
  std::uint64_t max_memory = 0;
  // What one client (a gRPC connection) may hold at once
  // (sidecar/client_limits.h).
  client_limit_settings per_client;
};

enum class log_format { text, json };

struct log_settings {
  std::string level = "info";  // trace, debug, info, warn, error, off
  log_format format = log_format::text;
  // One JSON line per Send / SendStream operation on stdout (trace id,
  // caller, target, operation, status, durations), for this share of them
  // (0: none, 1: all); sampled by trace id where the call has one, so a
  // trace is logged whole or not at all.
  double access_sample = 0;
};

// W3C trace context (sidecar/trace_context.h).
struct tracing_settings {
  // Calls without a traceparent get a new one (so their messages can be
  // followed through the broker); false: none is invented.
  bool generate = false;
};

struct readiness_settings {
  std::vector<std::string> required_targets;  // /readyz waits for these
};

// Who calls (sidecar/caller_auth.h).
struct auth_settings {
  // "NAME sha256:HEX" lines; a caller sends "authorization: Bearer TOKEN".
  // Re-read when it changes. Empty: no tokens.
  std::string tokens_file;
};

// Limits on one caller identity (sidecar/caller_table.h): each identity the
// callers patterns match gets its own (callers nothing names share the
// identity ""); beyond one, RESOURCE_EXHAUSTED naming it. 0: no limit.
struct quota_settings {
  std::string path;                        // "quotas[0]", for messages
  std::vector<std::string> callers;        // identity patterns ('*' globs)
  double operations_per_second = 0;        // Send / SendStream operations
  std::uint64_t bytes_per_second = 0;      // of the operations the caller sends
  std::chrono::milliseconds burst{1'000};  // how far ahead of the rates an idle caller may go
  std::uint32_t in_flight = 0;             // operations not yet answered
  std::uint32_t streams = 0;               // open SendStream and Recv streams
};

struct config {
  listen_settings listen;
  auth_settings auth;
  std::vector<quota_settings> quotas;  // the first whose callers match applies
  server_settings server;
  log_settings log;
  tracing_settings tracing;
  readiness_settings readiness;
  std::vector<target_settings> targets;

  const target_settings* find_target(std::string_view name) const;
};

// Whether the configuration serves gRPC on a TCP address other hosts can
// reach with nothing checking who calls (no listen.tls, no tokens): refused
// at load unless server.allow_insecure_remote, then warned at every start.
bool exposed_without_auth(const config& c) noexcept;

// Whether the host of `host_port` ("127.0.0.1:7300", "[::1]:7300",
// "localhost:7300") is only reachable from this host. Pure.
bool loopback_address(std::string_view host_port) noexcept;

// A configuration error: what() is one line, "setting: reason".
class config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One setting given on the command line: a dotted path into the YAML
// document ("targets.cache.pool.max_connections") and its value in YAML
// syntax ("16", "[a, b]").
struct setting_override {
  std::string path;
  std::string value;
  bool literal = false;  // take value as a plain string, not YAML (URLs)
};

class adapter_registry;
const adapter_registry& builtin_adapters();

// Builds the configuration from a YAML document (empty: all defaults) and
// the overrides, applied in order on top of it, with the URL schemes and
// options of `adapters`. Secrets named by password_file / password_env are
// read here. Throws config_error.
config load_config(std::string_view yaml_text, const std::vector<setting_override>& overrides,
                   const adapter_registry& adapters = builtin_adapters());

}  // namespace brokerside::sidecar
