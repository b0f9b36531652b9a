#include "protocol/framed/msgpack.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <utility>
#include <variant>

#include "protocol/errc.h"

namespace brokerside::protocol::framed {
namespace {

constexpr std::uint64_t max_u32 = std::numeric_limits<std::uint32_t>::max();

// Writes one value after another into `out`; false (and `error` set) when
// a value cannot be written.
class encoder {
 public:
  encoder(std::string& out, const limits& lim) : out_(out), lim_(lim) {}

  std::error_code error;

  bool put(const value& v, std::size_t depth) {
    return std::visit([&](const auto& x) { return put_one(x, depth); },
                      static_cast<const value_variant&>(v));
  }

 private:
  bool put_one(std::monostate, std::size_t) { return byte(0xc0); }
  bool put_one(bool b, std::size_t) { return byte(b ? 0xc3 : 0xc2); }
  bool put_one(std::int64_t n, std::size_t) { return integer(n); }
  bool put_one(std::uint64_t n, std::size_t) { return unsigned_integer(n); }
  bool put_one(double d, std::size_t) {
    return byte(0xcb) && big_endian(std::bit_cast<std::uint64_t>(d), 8);
  }
  bool put_one(float f, std::size_t) {
    return byte(0xca) && big_endian(std::bit_cast<std::uint32_t>(f), 4);
  }
  bool put_one(const std::string& s, std::size_t) {
    if (!valid_utf8(s)) return fail(errc::unsupported);
    return header(s.size(), 0xa0, 32, 0xd9, 0xda, 0xdb) && bytes(s);
  }
  bool put_one(const bin& b, std::size_t) {
    return header(b.bytes.size(), 0, 0, 0xc4, 0xc5, 0xc6) && bytes(b.bytes);
  }
  bool put_one(const array& a, std::size_t depth) {
    if (depth >= lim_.max_depth) return fail(errc::nesting_too_deep);
    if (!header(a.size(), 0x90, 16, 0, 0xdc, 0xdd)) return false;
    return std::all_of(a.begin(), a.end(), [&](const value& e) { return put(e, depth + 1); });
  }
  bool put_one(const map& m, std::size_t depth) {
    if (depth >= lim_.max_depth) return fail(errc::nesting_too_deep);
    if (!header(m.size(), 0x80, 16, 0, 0xde, 0xdf)) return false;
    return std::all_of(m.begin(), m.end(), [&](const map_entry& e) {
      return put(e.key, depth + 1) && put(e.val, depth + 1);
    });
  }
  bool put_one(const ext& e, std::size_t) {
    const auto n = e.data.size();
    const int fixed = n == 1    ? 0xd4
                      : n == 2  ? 0xd5
                      : n == 4  ? 0xd6
                      : n == 8  ? 0xd7
                      : n == 16 ? 0xd8
                                : 0;
    if (fixed != 0) {
      byte(static_cast<std::uint8_t>(fixed));
    } else if (!header(n, 0, 0, 0xc7, 0xc8, 0xc9)) {
      return false;
    }
    return byte(static_cast<std::uint8_t>(e.type)) && bytes(e.data);
  }

  bool fail(errc e) {
    error = make_error_code(e);
    return false;
  }

  bool byte(std::uint8_t b) {
    out_.push_back(static_cast<char>(b));
    return true;
  }

  bool big_endian(std::uint64_t v, int size) {
    for (int shift = (size - 1) * 8; shift >= 0; shift -= 8) {
      byte(static_cast<std::uint8_t>(v >> shift));
    }
    return true;
  }

  bool bytes(std::string_view b) {
    out_.append(b);
    return true;
  }

  bool unsigned_integer(std::uint64_t n) {
    if (n < 0x80) return byte(static_cast<std::uint8_t>(n));
    if (n <= 0xff) return byte(0xcc) && big_endian(n, 1);
    if (n <= 0xffff) return byte(0xcd) && big_endian(n, 2);
    if (n <= max_u32) return byte(0xce) && big_endian(n, 4);
    return byte(0xcf) && big_endian(n, 8);
  }

  bool integer(std::int64_t n) {
    if (n >= 0) return unsigned_integer(static_cast<std::uint64_t>(n));
    const auto bits = static_cast<std::uint64_t>(n);
    if (n >= -32) return byte(static_cast<std::uint8_t>(bits));  // 111xxxxx
    if (n >= INT8_MIN) return byte(0xd0) && big_endian(bits, 1);
    if (n >= INT16_MIN) return byte(0xd1) && big_endian(bits, 2);
    if (n >= INT32_MIN) return byte(0xd2) && big_endian(bits, 4);
    return byte(0xd3) && big_endian(bits, 8);
  }

  // A length or count: in the fix format's low bits when below `fix_end`
  // (fix_base 0: the family has none), else in 8 (f8 0: none), 16 or 32 bits.
  bool header(std::uint64_t n, std::uint8_t fix_base, std::uint64_t fix_end, std::uint8_t f8,
              std::uint8_t f16, std::uint8_t f32) {
    if (fix_base != 0 && n < fix_end) return byte(static_cast<std::uint8_t>(fix_base | n));
    if (f8 != 0 && n <= 0xff) return byte(f8) && big_endian(n, 1);
    if (n <= 0xffff) return byte(f16) && big_endian(n, 2);
    if (n <= max_u32) return byte(f32) && big_endian(n, 4);
    return fail(errc::frame_too_large);
  }

  std::string& out_;
  const limits& lim_;
};

// A recursive-descent parse of one object. Each step returns false when it
// cannot go on: either the input ends early (need more) or ec is set.
class decoder {
 public:
  decoder(std::string_view in, const limits& lim, std::error_code& ec)
      : in_(in), lim_(lim), ec_(ec) {}

  std::size_t position() const { return pos_; }

  bool parse(value& v, std::size_t depth) {
    if (++values_ > lim_.max_elements) return fail(errc::frame_too_large);
    if (pos_ >= in_.size()) return false;
    const auto b = static_cast<std::uint8_t>(in_[pos_++]);
    if (b <= 0x7f) return set(v, std::int64_t{b});
    if (b >= 0xe0) return set(v, std::int64_t{static_cast<std::int8_t>(b)});
    if (b <= 0x8f) return parse_map(v, b & 0x0f, depth);
    if (b <= 0x9f) return parse_array(v, b & 0x0f, depth);
    if (b <= 0xbf) return parse_str(v, b & 0x1f);
    std::uint64_t n = 0;
    switch (b) {
      case 0xc0:
        return set(v, std::monostate{});
      case 0xc2:
      case 0xc3:
        return set(v, b == 0xc3);
      case 0xc4:
      case 0xc5:
      case 0xc6:
        return number(1 << (b - 0xc4), n) && parse_bin(v, n);
      case 0xc7:
      case 0xc8:
      case 0xc9:
        return number(1 << (b - 0xc7), n) && parse_ext(v, n);
      case 0xca:
        return number(4, n) && set(v, std::bit_cast<float>(static_cast<std::uint32_t>(n)));
      case 0xcb:
        return number(8, n) && set(v, std::bit_cast<double>(n));
      case 0xcc:
      case 0xcd:
      case 0xce:
      case 0xcf:
        return number(1 << (b - 0xcc), n) && set_unsigned(v, n);
      case 0xd0:
      case 0xd1:
      case 0xd2:
      case 0xd3:
        return number(1 << (b - 0xd0), n) && set(v, sign_extend(n, 1 << (b - 0xd0)));
      case 0xd4:
      case 0xd5:
      case 0xd6:
      case 0xd7:
      case 0xd8:
        return parse_ext(v, std::uint64_t{1} << (b - 0xd4));
      case 0xd9:
      case 0xda:
      case 0xdb:
        return number(1 << (b - 0xd9), n) && parse_str(v, n);
      case 0xdc:
      case 0xdd:
        return number(b == 0xdc ? 2 : 4, n) && parse_array(v, n, depth);
      case 0xde:
      case 0xdf:
        return number(b == 0xde ? 2 : 4, n) && parse_map(v, n, depth);
      default:  // 0xc1, never used
        return fail(errc::malformed_frame);
    }
  }

 private:
  bool fail(errc e) {
    ec_ = make_error_code(e);
    return false;
  }

  template <typename T>
  static bool set(value& v, T x) {
    v = std::move(x);
    return true;
  }

  static bool set_unsigned(value& v, std::uint64_t n) {
    if (n <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return set(v, static_cast<std::int64_t>(n));
    }
    return set(v, n);
  }

  static std::int64_t sign_extend(std::uint64_t n, int size) {
    const int unused = 64 - size * 8;
    return static_cast<std::int64_t>(n << unused) >> unused;
  }

  // A big-endian unsigned number of `size` bytes.
  bool number(int size, std::uint64_t& n) {
    if (in_.size() - pos_ < static_cast<std::size_t>(size)) return false;
    n = 0;
    for (int i = 0; i < size; ++i) n = (n << 8) | static_cast<std::uint8_t>(in_[pos_++]);
    return true;
  }

  // `n` bytes of data, refused from the length alone beyond the limit.
  bool data(std::uint64_t n, std::string_view& out) {
    if (n > lim_.max_bytes) return fail(errc::frame_too_large);
    if (in_.size() - pos_ < n) return false;
    out = in_.substr(pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return true;
  }

  bool parse_str(value& v, std::uint64_t n) {
    std::string_view s;
    if (!data(n, s)) return false;
    if (!valid_utf8(s)) return fail(errc::malformed_frame);
    return set(v, std::string(s));
  }

  bool parse_bin(value& v, std::uint64_t n) {
    std::string_view s;
    return data(n, s) && set(v, bin{std::string(s)});
  }

  bool parse_ext(value& v, std::uint64_t n) {
    std::uint64_t type = 0;
    std::string_view s;
    if (!number(1, type) || !data(n, s)) return false;
    return set(v, ext{static_cast<std::int8_t>(type), std::string(s)});
  }

  // Refuses, before allocating, a container of `elements` values that the
  // limits cannot hold (each takes at least a byte), and reserves no more
  // than the input could fill.
  bool open(std::uint64_t elements, std::size_t depth) {
    if (depth >= lim_.max_depth) return fail(errc::nesting_too_deep);
    if (elements > lim_.max_elements - std::min(values_, lim_.max_elements) ||
        elements > lim_.max_bytes) {
      return fail(errc::frame_too_large);
    }
    return true;
  }

  // Each element takes at least `each` bytes of what is left.
  std::size_t reservation(std::uint64_t elements, std::size_t each) const {
    return static_cast<std::size_t>(std::min<std::uint64_t>(elements, (in_.size() - pos_) / each));
  }

  bool parse_array(value& v, std::uint64_t n, std::size_t depth) {
    if (!open(n, depth)) return false;
    array a;
    a.reserve(reservation(n, 1));
    for (std::uint64_t i = 0; i < n; ++i) {
      if (!parse(a.emplace_back(), depth + 1)) return false;
    }
    return set(v, std::move(a));
  }

  bool parse_map(value& v, std::uint64_t n, std::size_t depth) {
    if (!open(n * 2, depth)) return false;
    map m;
    m.reserve(reservation(n, 2));
    for (std::uint64_t i = 0; i < n; ++i) {
      auto& e = m.emplace_back();
      if (!parse(e.key, depth + 1) || !parse(e.val, depth + 1)) return false;
    }
    return set(v, std::move(m));
  }

  std::string_view in_;
  const limits& lim_;
  std::error_code& ec_;
  std::size_t pos_ = 0;
  std::size_t values_ = 0;  // values begun so far, all levels
};

}  // namespace

std::error_code encode_msgpack(const value& v, std::string& out, const limits& lim) {
  const auto size = out.size();
  encoder e(out, lim);
  if (!e.put(v, 0)) {
    out.resize(size);
    return e.error;
  }
  return {};
}

std::size_t decode_msgpack(std::string_view in, value& out, std::error_code& ec,
                           const limits& lim) noexcept {
  ec.clear();
  try {
    decoder d(in, lim, ec);
    value v;
    if (!d.parse(v, 0)) {
      // Incomplete: refuse to wait for more than one message may hold.
      if (!ec && in.size() > lim.max_bytes) ec = make_error_code(errc::frame_too_large);
      return 0;
    }
    if (d.position() > lim.max_bytes) {
      ec = make_error_code(errc::frame_too_large);
      return 0;
    }
    out = std::move(v);
    return d.position();
  } catch (const std::bad_alloc&) {
    ec = make_error_code(errc::frame_too_large);
    return 0;
  }
}

}  // namespace brokerside::protocol::framed
