// libFuzzer target: the RESP decoder on arbitrary bytes, fed whole and in a
// pipelined loop, as a connection's read loop would.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/redis/resp.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace brokerside::protocol::redis;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  decoder_limits limits;
  limits.max_reply_bytes = 1 << 16;
  limits.max_depth = 16;
  while (!input.empty()) {
    value v;
    std::error_code ec;
    const auto used = decode(input, v, ec, limits);
    if (ec || used == 0) break;
    if (used > input.size()) __builtin_trap();
    input.remove_prefix(used);
  }
  return 0;
}
