// Builders for expected AMQP bytes in the codec tests, written from the
// spec independently of protocol/amqp/wire.h so a test cannot inherit the
// codec's own mistakes: big-endian integers, short and long strings, and
// length-prefixed tables.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace brokerside::protocol::amqp::test {

inline std::string be(std::uint64_t v, int bytes) {
  std::string out;
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return out;
}
inline std::string u8(std::uint8_t v) { return be(v, 1); }
inline std::string u16(std::uint16_t v) { return be(v, 2); }
inline std::string u32(std::uint32_t v) { return be(v, 4); }
inline std::string u64(std::uint64_t v) { return be(v, 8); }

inline std::string shortstr(std::string_view s) {
  return u8(static_cast<std::uint8_t>(s.size())) + std::string(s);
}
inline std::string longstr(std::string_view s) {
  return u32(static_cast<std::uint32_t>(s.size())) + std::string(s);
}
// A table or array: the u32 byte count of `entries`, then `entries`.
inline std::string sized(std::string_view entries) { return longstr(entries); }

// A frame: type, channel, size, payload, 0xCE.
inline std::string frame_bytes(std::uint8_t type, std::uint16_t channel, std::string_view payload) {
  return u8(type) + u16(channel) + u32(static_cast<std::uint32_t>(payload.size())) +
         std::string(payload) + "\xCE";
}

}  // namespace brokerside::protocol::amqp::test
