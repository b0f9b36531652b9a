// Redis Cluster's client-side facts, pure: which of the 16,384 hash slots a
// key lives in (CRC16 of the key or of its {hash tag}), the MOVED / ASK
// redirections a node answers with, the slot map CLUSTER SHARDS (or CLUSTER
// SLOTS, before 7.0) reports, and a table from slots to node addresses.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/redis/resp.h"

namespace brokerside::protocol::redis {

inline constexpr std::uint16_t cluster_slots = 16384;

// CRC16-CCITT (XMODEM), the checksum Redis Cluster hashes keys with.
std::uint16_t crc16(std::string_view bytes) noexcept;

// The slot of `key`: of the part between the first '{' and the first '}'
// after it when that part is not empty (a hash tag: "{user1}:cart" and
// "{user1}:orders" share a slot), else of the whole key.
std::uint16_t key_slot(std::string_view key) noexcept;

// "MOVED 3999 127.0.0.1:6381" (the slot lives there now) or "ASK 3999
// 127.0.0.1:6381" (it is being moved there: ask there, after ASKING, this
// once).
struct redirection {
  bool ask = false;
  std::uint16_t slot = 0;
  std::string address;  // host:port; host empty when the node did not know its own
};
std::optional<redirection> parse_redirection(std::string_view error) noexcept;

// One shard of the cluster: the slots it serves, its master's and its
// replicas' addresses ("host:port", the TLS port when `tls`).
struct cluster_shard {
  std::vector<std::pair<std::uint16_t, std::uint16_t>> slots;  // first, last (inclusive)
  std::string master;
  std::vector<std::string> replicas;
};

// CLUSTER SHARDS' reply (Redis 7.0+; RESP2 or RESP3), or nullopt if it is
// not one. A node's address is its `endpoint` (its `ip` where the endpoint
// is unknown); failed nodes are left out.
std::optional<std::vector<cluster_shard>> parse_cluster_shards(const value& reply, bool tls);

// CLUSTER SLOTS' reply (every version), or nullopt if it is not one.
std::optional<std::vector<cluster_shard>> parse_cluster_slots(const value& reply);

// How a cluster answers a command that has no key but is about the whole
// keyspace (redis-cluster-proxy's and the cluster clients' answer: ask every
// master and put the answers together). The rest have a key (their slot's
// master) or are any node's (PING, INFO, PUBLISH).
enum class cluster_reach : std::uint8_t {
  one_node,     // any node will do
  sum,          // DBSIZE: every master's integer, added
  concatenate,  // KEYS: every master's array, one after the other
  same,      // FLUSHALL, SCRIPT LOAD, FUNCTION LOAD, ...: on each; the first error, else the first
             // answer
  all_true,  // SCRIPT EXISTS: per element, 1 only where every master says 1
  scan,      // SCAN: one master at a time, which the cursor names (scan_cursor)
};
cluster_reach reach_of(std::span<const std::string_view> args) noexcept;

// A cluster-wide SCAN cursor: the master's own cursor shifted left by 10 bits
// and that master's index (in the order of their addresses) in the low 10 —
// redis-cluster-proxy's encoding. 0 starts at master 0; a master's cursor
// of 0 moves on to the next, and after the last the cursor is 0 again.
struct scan_cursor {
  static constexpr unsigned node_bits = 10;
  std::uint64_t node_cursor = 0;
  std::size_t node = 0;
};
// nullopt if `text` is not a decimal cursor.
std::optional<scan_cursor> parse_scan_cursor(std::string_view text) noexcept;
// The caller's next cursor after master `node` of `masters` answered its own
// `next` (a decimal cursor), or nullopt if `next` is not one or does not fit.
std::optional<std::uint64_t> next_scan_cursor(std::string_view next, std::size_t node,
                                              std::size_t masters) noexcept;

// Which node serves each slot, as the last map and the redirections since
// said. Addresses are kept once each; a slot nobody serves is nullopt.
class slot_table {
 public:
  slot_table() { owner_.fill(none); }

  // Replaces everything with `shards`.
  void assign(const std::vector<cluster_shard>& shards);
  // Slot `slot` is served by `address` from now on (a MOVED).
  void move(std::uint16_t slot, std::string_view address);

  std::optional<std::string_view> node(std::uint16_t slot) const noexcept;
  // Every node that serves at least one slot, and its ranges, for Stats.
  std::vector<std::pair<std::string, std::vector<std::pair<std::uint16_t, std::uint16_t>>>> ranges()
      const;
  std::size_t served() const noexcept;  // slots with a node

 private:
  static constexpr std::uint16_t none = 0xffff;
  std::uint16_t index_of(std::string_view address);

  std::array<std::uint16_t, cluster_slots> owner_;  // index into nodes_, or none
  std::vector<std::string> nodes_;                  // addresses, by index
};

}  // namespace brokerside::protocol::redis
