// Per caller identity: what it did (operations, denials by rule, refusals
// by quota), what it holds (operations in flight, open streams) and its
// quotas (config's `quotas`): rates by token bucket, in-flight operations
// and streams by count; beyond one, RESOURCE_EXHAUSTED naming it. Kept only
// when something names callers or limits them (tokens, TLS, allow lists,
// rules, quotas); otherwise every call passes untouched.
#pragma once

#include <grpcpp/support/status.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sidecar/client_limits.h"
#include "sidecar/token_bucket.h"

namespace brokerside::sidecar {

struct config;
struct quota_settings;

// One identity's entry. Counters are relaxed atomics; the buckets and the
// per-reason maps sit under its own mutex.
struct caller_state {
  std::string identity;                      // "" for callers nothing names
  const quota_settings* quota = nullptr;     // null: no quota
  std::atomic<std::uint64_t> operations{0};  // admitted
  std::atomic<std::uint32_t> in_flight{0};
  std::atomic<std::uint32_t> streams{0};
  std::mutex mutex;
  token_bucket operation_rate, byte_rate;
  std::map<std::string, std::uint64_t, std::less<>> denied;     // by rule ("allow.send", ...)
  std::map<std::string, std::uint64_t, std::less<>> throttled;  // by quota ("in_flight", ...)
};

// An admitted operation's hold on its caller's in-flight count: released
// by release() or, failing that, when destroyed.
class operation_slot {
 public:
  explicit operation_slot(std::shared_ptr<caller_state> state) : state_(std::move(state)) {}
  operation_slot(const operation_slot&) = delete;
  operation_slot& operator=(const operation_slot&) = delete;
  ~operation_slot() { release(); }
  void release() noexcept;

 private:
  std::shared_ptr<caller_state> state_;
};

// An open stream's hold on its caller's stream count, released when
// destroyed (the reactor's end), and on its client's (client_limits.h).
// The former is empty when callers are not tracked.
class stream_slot {
 public:
  stream_slot() = default;
  explicit stream_slot(std::shared_ptr<caller_state> state) : state_(std::move(state)) {}
  stream_slot(stream_slot&&) = default;
  stream_slot& operator=(stream_slot&& other) noexcept;
  ~stream_slot();

  // The stream's client, counted until the end.
  void hold(client_stream client) { client_ = std::move(client); }
  const std::shared_ptr<client_entry>& client() const noexcept { return client_.entry(); }

 private:
  std::shared_ptr<caller_state> state_;
  client_stream client_;
};

// What Stats and /metrics show of one identity.
struct caller_snapshot {
  std::string identity;
  std::uint64_t operations = 0;
  std::uint32_t in_flight = 0, streams = 0;
  std::map<std::string, std::uint64_t, std::less<>> denied, throttled;
};

class caller_table {
 public:
  // At most this many identities get entries of their own; the rest share
  // one named "other" (its quota the first that matches it).
  static constexpr std::size_t max_identities = 4096;

  // `tracked`: whether anything names or limits callers. `cfg` must outlive
  // the table.
  caller_table(const config& cfg, bool tracked);

  bool tracked() const noexcept { return tracked_; }

  // Admits one operation of `bytes` for `who`: OK with `slot` set (null
  // when not tracked), or RESOURCE_EXHAUSTED naming the quota, counted.
  grpc::Status admit_operation(const std::string& who, std::uint64_t bytes,
                               std::shared_ptr<operation_slot>& slot);
  // Admits one more open stream for `who`, held by `slot`.
  grpc::Status open_stream(const std::string& who, stream_slot& slot);
  // Counts a denial of `who` by `rule` ("allow.send", "rules", ...).
  void count_denied(const std::string& who, std::string_view rule);

  // Every identity's figures, in name order ("" first).
  std::vector<caller_snapshot> snapshot() const;

 private:
  std::shared_ptr<caller_state> state_of(const std::string& who);
  grpc::Status throttled(caller_state& state, const char* quota, const std::string& limit);

  const config& config_;
  bool tracked_;
  mutable std::shared_mutex mutex_;  // the map; entries are never removed
  std::unordered_map<std::string, std::shared_ptr<caller_state>> states_;
};

// How Stats and /metrics name the identity "" (callers nothing names).
inline std::string_view caller_label(std::string_view identity) noexcept {
  return identity.empty() ? std::string_view("anonymous") : identity;
}

}  // namespace brokerside::sidecar
