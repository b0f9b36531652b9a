// libFuzzer target: the RESP decoder on arbitrary bytes, fed whole and in a
// pipelined loop, as a connection's read loop would; and the resumable
// reply_scanner fed the same bytes in pieces, which must agree with decode();
// each reply also read as a cluster's slot map (CLUSTER SHARDS / SLOTS) and,
// where it is text, as a redirection and a command's keys.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "protocol/redis/cluster.h"
#include "protocol/redis/command_keys.h"
#include "protocol/redis/resp.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace brokerside::protocol::redis;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  decoder_limits limits;
  limits.max_reply_bytes = 1 << 16;
  limits.max_depth = 16;
  // The first byte sets how many bytes each simulated read adds.
  const std::size_t step = size > 0 ? 1 + data[0] % 16 : 1;
  reply_scanner scanner(limits);
  while (!input.empty()) {
    value v;
    std::error_code ec;
    const auto used = decode(input, v, ec, limits);
    std::error_code scan_ec;
    std::size_t scanned = 0;
    for (std::size_t have = step; scanned == 0 && !scan_ec; have += step) {
      scanned = scanner.scan(input.substr(0, std::min(have, input.size())), scan_ec);
      if (have >= input.size()) break;
    }
    // Where decode() finds a whole reply, the scanner finds the same end;
    // where decode() needs more, so does the scanner.
    if (used > 0 && (scan_ec || scanned != used)) __builtin_trap();
    if (!ec && used == 0 && (scan_ec || scanned != 0)) __builtin_trap();
    if (ec || used == 0) break;
    for (const auto& shards : {parse_cluster_shards(v, data[0] & 1), parse_cluster_slots(v)}) {
      if (!shards) continue;
      slot_table table;
      table.assign(*shards);
      if (table.ranges().size() > shards->size()) __builtin_trap();
    }
    if (v.type == resp_type::error) {
      if (auto r = parse_redirection(v.text); r && r->slot >= cluster_slots) __builtin_trap();
    }
    if (v.type == resp_type::array && v.elements.size() < 64) {
      std::vector<std::string_view> args;
      for (const auto& e : v.elements) args.push_back(e.text);
      const auto slot = slot_of(args);
      if (slot.slot >= cluster_slots || slot.other_slot >= cluster_slots) __builtin_trap();
    }
    if (used > input.size()) __builtin_trap();
    input.remove_prefix(used);
  }
  return 0;
}
