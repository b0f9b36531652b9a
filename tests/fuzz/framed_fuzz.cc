// libFuzzer target: the framed (aiomas channel) codecs on arbitrary bytes.
// The first byte picks the codec (even: MessagePack, odd: JSON); the rest is
// read as a connection would (frame after frame) and as one bare value.
// The invariant: whatever decodes, encodes (a decoded value always fits
// its own codec), decodes again to an equal value (NaN, from msgpack only,
// is unequal to itself: then the bytes decide), and encodes again to the
// same bytes. A msgpack float 32 stays one, so this holds bit for bit; JSON
// floats are written as Python's shortest repr, which reads back exactly.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "protocol/framed/frame.h"
#include "protocol/framed/json.h"
#include "protocol/framed/msgpack.h"

namespace {

using namespace brokerside::protocol::framed;

limits fuzz_limits() {
  limits lim;
  lim.max_depth = 16;
  lim.max_elements = 1 << 12;
  lim.max_bytes = 1 << 16;
  return lim;
}

// Re-encoding may take more bytes than the input did (JSON escapes raw
// UTF-8, adds ", "), so the second decode does not limit bytes.
limits roomy(limits lim) {
  lim.max_bytes = std::numeric_limits<std::size_t>::max();
  return lim;
}

bool encode(codec c, const value& v, std::string& out, const limits& lim) {
  return !(c == codec::msgpack ? encode_msgpack(v, out, lim) : encode_json(v, out, lim));
}

bool decode_whole(codec c, std::string_view in, value& v, const limits& lim) {
  if (c == codec::json) return !decode_json(in, v, lim);
  std::error_code ec;
  return decode_msgpack(in, v, ec, lim) == in.size() && !ec;
}

void check_value(codec c, const value& v, const limits& lim) {
  std::string once;
  if (!encode(c, v, once, lim)) __builtin_trap();
  value again;
  if (!decode_whole(c, once, again, roomy(lim))) __builtin_trap();
  if (v == v && !(again == v)) __builtin_trap();
  std::string twice;
  if (!encode(c, again, twice, lim) || twice != once) __builtin_trap();
  // Whatever JSON carries, msgpack carries too, and back.
  if (c == codec::json) {
    std::string packed;
    value unpacked;
    if (!encode(codec::msgpack, v, packed, lim)) __builtin_trap();
    if (!decode_whole(codec::msgpack, packed, unpacked, roomy(lim))) __builtin_trap();
    std::string text;
    if (!encode(codec::json, unpacked, text, lim) || text != once) __builtin_trap();
  }
}

void check_bare_value(codec c, std::string_view in, const limits& lim) {
  value v;
  if (c == codec::json) {
    if (decode_json(in, v, lim)) return;
  } else {
    std::error_code ec;
    const auto used = decode_msgpack(in, v, ec, lim);
    if (ec || used == 0) return;
    if (used > in.size()) __builtin_trap();
  }
  check_value(c, v, lim);
}

void check_frames(codec c, std::string_view in, const limits& lim) {
  while (!in.empty()) {
    message m;
    std::error_code ec;
    const auto used = decode_message(in, c, m, ec, 1 << 16, lim);
    if (ec || used == 0) break;
    if (used > in.size() || used < length_prefix_size) __builtin_trap();
    std::string once;
    if (append_message(once, c, m, 0, lim)) __builtin_trap();
    message again;
    if (decode_message(once, c, again, ec, 0, roomy(lim)) != once.size() || ec) __builtin_trap();
    if (m.content == m.content && !(again == m)) __builtin_trap();
    std::string twice;
    if (append_message(twice, c, again, 0, lim) || twice != once) __builtin_trap();
    in.remove_prefix(used);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto c = data[0] % 2 == 0 ? codec::msgpack : codec::json;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto lim = fuzz_limits();
  check_frames(c, in, lim);
  check_bare_value(c, in, lim);
  return 0;
}
