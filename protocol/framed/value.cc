#include "protocol/framed/value.h"

#include <cstdint>

namespace brokerside::protocol::framed {
namespace {

// An integer held in either alternative, as (is it negative, magnitude bits).
bool integer_of(const value& v, std::int64_t& s, std::uint64_t& u, bool& is_signed) noexcept {
  if (const auto* i = std::get_if<std::int64_t>(&v)) {
    s = *i;
    is_signed = true;
    return true;
  }
  if (const auto* n = std::get_if<std::uint64_t>(&v)) {
    u = *n;
    is_signed = false;
    return true;
  }
  return false;
}

}  // namespace

bool value::operator==(const value& other) const {
  std::int64_t a = 0, b = 0;
  std::uint64_t ua = 0, ub = 0;
  bool sa = false, sb = false;
  if (integer_of(*this, a, ua, sa) && integer_of(other, b, ub, sb) && sa != sb) {
    // One signed, one unsigned: equal when the signed one is not negative
    // and both hold the same number.
    const auto s = sa ? a : b;
    const auto u = sa ? ub : ua;
    return s >= 0 && static_cast<std::uint64_t>(s) == u;
  }
  return static_cast<const value_variant&>(*this) == static_cast<const value_variant&>(other);
}

bool map_entry::operator==(const map_entry& other) const {
  return key == other.key && val == other.val;
}

bool valid_utf8(std::string_view text) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    const unsigned c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    std::size_t n = 0;
    std::uint32_t cp = 0, min = 0;
    if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;  // a continuation byte first, or 0xF8 and above
    }
    if (static_cast<std::size_t>(end - p) <= n) return false;
    for (std::size_t i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    p += n + 1;
  }
  return true;
}

}  // namespace brokerside::protocol::framed
