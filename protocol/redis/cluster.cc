#include "protocol/redis/cluster.h"

#include <algorithm>
#include <charconv>

#include "protocol/redis/commands.h"

namespace brokerside::protocol::redis {
namespace {

constexpr std::array<std::uint16_t, 256> crc16_table = [] {
  std::array<std::uint16_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t crc = i << 8;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1;
    t[i] = static_cast<std::uint16_t>(crc);
  }
  return t;
}();

bool is_text(const value& v) {
  return v.type == resp_type::bulk_string || v.type == resp_type::simple_string ||
         v.type == resp_type::verbatim;
}

bool is_list(const value& v) {
  return v.type == resp_type::array || v.type == resp_type::set || v.type == resp_type::map;
}

// A number given as an integer or as its text.
std::optional<std::int64_t> number(const value& v) {
  if (v.type == resp_type::integer) return v.integer;
  if (!is_text(v)) return std::nullopt;
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), n);
  if (ec != std::errc{} || end != v.text.data() + v.text.size()) return std::nullopt;
  return n;
}

// The value under `key` of a RESP3 map or a RESP2 flat key, value list.
const value* field(const value& v, std::string_view key) {
  if (!is_list(v)) return nullptr;
  for (std::size_t i = 0; i + 1 < v.elements.size(); i += 2) {
    if (is_text(v.elements[i]) && v.elements[i].text == key) return &v.elements[i + 1];
  }
  return nullptr;
}

std::string address(std::string_view host, std::int64_t port) {
  return std::string(host) + ":" + std::to_string(port);
}

bool valid_range(std::int64_t first, std::int64_t last) {
  return first >= 0 && last >= first && last < cluster_slots;
}

}  // namespace

std::uint16_t crc16(std::string_view bytes) noexcept {
  std::uint16_t crc = 0;
  for (const char c : bytes) {
    crc = static_cast<std::uint16_t>(
        (crc << 8) ^ crc16_table[((crc >> 8) ^ static_cast<std::uint8_t>(c)) & 0xff]);
  }
  return crc;
}

std::uint16_t key_slot(std::string_view key) noexcept {
  if (const auto open = key.find('{'); open != std::string_view::npos) {
    const auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close != open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return crc16(key) & (cluster_slots - 1);
}

std::optional<redirection> parse_redirection(std::string_view error) noexcept {
  redirection r;
  if (error.starts_with("MOVED ")) {
    error.remove_prefix(6);
  } else if (error.starts_with("ASK ")) {
    r.ask = true;
    error.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  const auto space = error.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  unsigned slot = 0;
  const auto [end, ec] = std::from_chars(error.data(), error.data() + space, slot);
  if (ec != std::errc{} || end != error.data() + space || slot >= cluster_slots) {
    return std::nullopt;
  }
  const auto where = error.substr(space + 1);
  const auto colon = where.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == where.size()) return std::nullopt;
  r.slot = static_cast<std::uint16_t>(slot);
  r.address = std::string(where);
  return r;
}

std::optional<std::vector<cluster_shard>> parse_cluster_shards(const value& reply, bool tls) {
  if (!is_list(reply) || reply.type == resp_type::map) return std::nullopt;
  std::vector<cluster_shard> shards;
  for (const auto& s : reply.elements) {
    const value* slots = field(s, "slots");
    const value* nodes = field(s, "nodes");
    if (slots == nullptr || nodes == nullptr || !is_list(*slots) || !is_list(*nodes)) {
      return std::nullopt;
    }
    cluster_shard shard;
    if (slots->elements.size() % 2 != 0) return std::nullopt;
    for (std::size_t i = 0; i < slots->elements.size(); i += 2) {
      const auto first = number(slots->elements[i]), last = number(slots->elements[i + 1]);
      if (!first || !last || !valid_range(*first, *last)) return std::nullopt;
      shard.slots.emplace_back(static_cast<std::uint16_t>(*first),
                               static_cast<std::uint16_t>(*last));
    }
    for (const auto& n : nodes->elements) {
      const value* role = field(n, "role");
      const value* health = field(n, "health");
      const value* endpoint = field(n, "endpoint");
      const value* ip = field(n, "ip");
      const value* port = field(n, tls ? "tls-port" : "port");
      if (role == nullptr || port == nullptr || !number(*port)) return std::nullopt;
      if (health != nullptr && is_text(*health) && health->text != "online") continue;
      std::string_view host;
      if (endpoint != nullptr && is_text(*endpoint) && !endpoint->text.empty() &&
          endpoint->text != "?") {
        host = endpoint->text;
      } else if (ip != nullptr && is_text(*ip)) {
        host = ip->text;
      }
      if (host.empty()) continue;
      auto where = address(host, *number(*port));
      if (is_text(*role) && role->text == "master") {
        shard.master = std::move(where);
      } else {
        shard.replicas.push_back(std::move(where));
      }
    }
    if (!shard.slots.empty() && !shard.master.empty()) shards.push_back(std::move(shard));
  }
  return shards;
}

std::optional<std::vector<cluster_shard>> parse_cluster_slots(const value& reply) {
  if (reply.type != resp_type::array) return std::nullopt;
  std::vector<cluster_shard> shards;
  auto node_address = [](const value& n) -> std::optional<std::string> {
    if (n.type != resp_type::array || n.elements.size() < 2 || !is_text(n.elements[0])) {
      return std::nullopt;
    }
    const auto port = number(n.elements[1]);
    if (!port) return std::nullopt;
    return address(n.elements[0].text, *port);
  };
  for (const auto& r : reply.elements) {
    if (r.type != resp_type::array || r.elements.size() < 3) return std::nullopt;
    const auto first = number(r.elements[0]), last = number(r.elements[1]);
    if (!first || !last || !valid_range(*first, *last)) return std::nullopt;
    auto master = node_address(r.elements[2]);
    if (!master) return std::nullopt;
    // Ranges of one master come as separate entries: gather them.
    auto it = std::find_if(shards.begin(), shards.end(),
                           [&](const cluster_shard& s) { return s.master == *master; });
    if (it == shards.end()) {
      it = shards.insert(shards.end(), cluster_shard{{}, std::move(*master), {}});
      for (std::size_t i = 3; i < r.elements.size(); ++i) {
        if (auto replica = node_address(r.elements[i])) it->replicas.push_back(std::move(*replica));
      }
    }
    it->slots.emplace_back(static_cast<std::uint16_t>(*first), static_cast<std::uint16_t>(*last));
  }
  return shards;
}

std::uint16_t slot_table::index_of(std::string_view address) {
  const auto it = std::find(nodes_.begin(), nodes_.end(), address);
  if (it != nodes_.end()) return static_cast<std::uint16_t>(it - nodes_.begin());
  nodes_.emplace_back(address);
  return static_cast<std::uint16_t>(nodes_.size() - 1);
}

void slot_table::assign(const std::vector<cluster_shard>& shards) {
  owner_.fill(none);
  nodes_.clear();
  for (const auto& shard : shards) {
    const auto index = index_of(shard.master);
    for (const auto& [first, last] : shard.slots) {
      std::fill(owner_.begin() + first, owner_.begin() + last + 1, index);
    }
  }
}

void slot_table::move(std::uint16_t slot, std::string_view address) {
  if (slot < cluster_slots) owner_[slot] = index_of(address);
}

std::optional<std::string_view> slot_table::node(std::uint16_t slot) const noexcept {
  if (slot >= cluster_slots || owner_[slot] == none) return std::nullopt;
  return nodes_[owner_[slot]];
}

std::size_t slot_table::served() const noexcept {
  return static_cast<std::size_t>(
      std::count_if(owner_.begin(), owner_.end(), [](std::uint16_t o) { return o != none; }));
}

std::vector<std::pair<std::string, std::vector<std::pair<std::uint16_t, std::uint16_t>>>>
slot_table::ranges() const {
  std::vector<std::pair<std::string, std::vector<std::pair<std::uint16_t, std::uint16_t>>>> out;
  for (const auto& n : nodes_) out.emplace_back(n, decltype(out)::value_type::second_type{});
  for (std::uint32_t s = 0; s < cluster_slots;) {
    const auto o = owner_[s];
    std::uint32_t e = s;
    while (e + 1 < cluster_slots && owner_[e + 1] == o) ++e;
    if (o != none) out[o].second.emplace_back(s, e);
    s = e + 1;
  }
  std::erase_if(out, [](const auto& node) { return node.second.empty(); });
  return out;
}

cluster_reach reach_of(std::span<const std::string_view> args) noexcept {
  if (args.empty()) return cluster_reach::one_node;
  const auto name = args[0];
  const auto sub = args.size() > 1 ? args[1] : std::string_view();
  if (iequals(name, "DBSIZE")) return cluster_reach::sum;
  if (iequals(name, "KEYS")) return cluster_reach::concatenate;
  if (iequals(name, "SCAN")) return cluster_reach::scan;
  if (iequals(name, "FLUSHALL") || iequals(name, "FLUSHDB")) return cluster_reach::same;
  if (iequals(name, "SCRIPT")) {
    if (iequals(sub, "EXISTS")) return cluster_reach::all_true;
    // Every master must know a script for EVALSHA to run wherever its keys are.
    if (iequals(sub, "LOAD") || iequals(sub, "FLUSH")) return cluster_reach::same;
  }
  if (iequals(name, "FUNCTION")) {
    if (iequals(sub, "LOAD") || iequals(sub, "DELETE") || iequals(sub, "FLUSH") ||
        iequals(sub, "RESTORE"))
      return cluster_reach::same;
  }
  return cluster_reach::one_node;
}

std::optional<scan_cursor> parse_scan_cursor(std::string_view text) noexcept {
  std::uint64_t c = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), c);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return scan_cursor{c >> scan_cursor::node_bits, c & ((1u << scan_cursor::node_bits) - 1)};
}

std::optional<std::uint64_t> next_scan_cursor(std::string_view next, std::size_t node,
                                              std::size_t masters) noexcept {
  std::uint64_t c = 0;
  const auto [end, ec] = std::from_chars(next.data(), next.data() + next.size(), c);
  if (ec != std::errc() || end != next.data() + next.size() || next.empty()) return std::nullopt;
  if (c == 0) return node + 1 < masters ? node + 1 : 0;
  if (c >> (64 - scan_cursor::node_bits) != 0) return std::nullopt;  // a table of 2^54 buckets
  return c << scan_cursor::node_bits | node;
}

}  // namespace brokerside::protocol::redis
