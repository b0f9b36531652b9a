// Helpers for the framed codec tests: hex in and out (the reference vectors
// from gen_vectors.py are hex), big-endian numbers written from the spec
// independently of the codec, and short value builders.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include "protocol/framed/json.h"
#include "protocol/framed/msgpack.h"
#include "protocol/framed/value.h"

namespace brokerside::protocol::framed::test {

inline std::string unhex(std::string_view h) {
  std::string out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

inline std::string hex(std::string_view bytes) {
  constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    out.push_back(digits[static_cast<std::uint8_t>(c) >> 4]);
    out.push_back(digits[static_cast<std::uint8_t>(c) & 0xF]);
  }
  return out;
}

inline std::string be(std::uint64_t v, int bytes) {
  std::string out;
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return out;
}

inline std::string byte(std::uint8_t b) { return std::string(1, static_cast<char>(b)); }

inline value i(std::int64_t n) { return value{n}; }
inline value s(std::string text) { return value{std::move(text)}; }
inline value nil() { return value{std::monostate{}}; }
inline value arr(array a) { return value{std::move(a)}; }
inline value obj(map m) { return value{std::move(m)}; }

}  // namespace brokerside::protocol::framed::test

namespace brokerside::protocol::framed {

// gtest prints a value as JSON, or as msgpack hex what JSON cannot carry.
inline void PrintTo(const value& v, std::ostream* os) {
  std::string out;
  if (!encode_json(v, out)) {
    *os << out;
  } else if (!encode_msgpack(v, out)) {
    *os << "msgpack " << test::hex(out);
  } else {
    *os << "(a value neither codec writes)";
  }
}

}  // namespace brokerside::protocol::framed
