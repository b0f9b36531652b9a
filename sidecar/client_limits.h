// Per client (one gRPC peer: a connection, "ipv4:10.1.2.3:41234" or a Unix
// socket's "fd:N"): its operations in flight (Send calls and SendStream
// operations) and its open streams (SendStream, Recv), each held below a
// limit (server.per_client) so that one app holding 10,000 calls or
// thousands of streams cannot take every pool slot and connection from the
// others on a per-node sidecar. Beyond a limit: RESOURCE_EXHAUSTED naming
// it, counted. On whatever the caller's identity is, and on by default;
// identities have their own quotas (caller_table.h).
#pragma once

#include <grpcpp/support/status.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace brokerside::sidecar {

struct client_limit_settings {
  std::uint32_t in_flight = 10'000;  // operations in flight per client; 0: no limit
  std::uint32_t streams = 1'000;     // open SendStream + Recv streams per client; 0: no limit
};

class client_table;

// One client's counts; alive while a call or stream of it holds it.
class client_entry {
 public:
  client_entry(client_table& table, std::string peer) : table_(table), peer_(std::move(peer)) {}
  ~client_entry();
  client_entry(const client_entry&) = delete;
  client_entry& operator=(const client_entry&) = delete;

  // One more operation in flight: OK, or RESOURCE_EXHAUSTED naming the
  // limit (then nothing is held). end_operation() after each admitted one.
  grpc::Status begin_operation();
  void end_operation() noexcept { in_flight_.fetch_sub(1, std::memory_order_relaxed); }

 private:
  friend class client_table;
  friend class client_stream;
  client_table& table_;
  const std::string peer_;
  std::atomic<std::uint32_t> in_flight_{0};
  std::atomic<std::uint32_t> streams_{0};
};

// An open stream's hold on its client: counted until destroyed.
class client_stream {
 public:
  client_stream() = default;
  explicit client_stream(std::shared_ptr<client_entry> entry) : entry_(std::move(entry)) {}
  client_stream(client_stream&&) = default;
  client_stream& operator=(client_stream&& other) noexcept;
  ~client_stream();
  const std::shared_ptr<client_entry>& entry() const noexcept { return entry_; }

 private:
  std::shared_ptr<client_entry> entry_;
};

class client_table {
 public:
  explicit client_table(client_limit_settings limits) : limits_(limits) {}

  // The entry of `peer`, made if none is held now.
  std::shared_ptr<client_entry> find(const std::string& peer);

  // Opens a stream for `peer`: OK with `out` holding it, or
  // RESOURCE_EXHAUSTED naming the limit.
  grpc::Status open_stream(const std::string& peer, client_stream& out);

  const client_limit_settings& limits() const noexcept { return limits_; }

  // Clients with a call or stream under way now; refusals by limit since
  // the start. Any thread.
  std::size_t clients() const;
  std::uint64_t refused_in_flight() const noexcept {
    return refused_in_flight_.load(std::memory_order_relaxed);
  }
  std::uint64_t refused_streams() const noexcept {
    return refused_streams_.load(std::memory_order_relaxed);
  }

  // The limits and refusals in Prometheus text.
  void render(std::string& out) const;

 private:
  friend class client_entry;
  // Sharded by the peer's hash, so calls of different clients rarely meet
  // on a lock.
  struct shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, std::weak_ptr<client_entry>> entries;
  };
  shard& shard_of(const std::string& peer) {
    return shards_[std::hash<std::string>{}(peer) % shards_.size()];
  }
  void forget(const std::string& peer);

  client_limit_settings limits_;
  std::array<shard, 16> shards_;
  std::atomic<std::uint64_t> refused_in_flight_{0}, refused_streams_{0};
};

}  // namespace brokerside::sidecar
