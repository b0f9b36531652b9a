#include "protocol/amqp/wire.h"

#include <limits>

namespace brokerside::protocol::amqp {
namespace {

template <class T>
T load_be(const char* p) noexcept {
  T v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    v = static_cast<T>((v << 8) | static_cast<unsigned char>(p[i]));
  }
  return v;
}

template <class T>
void store_be(std::string& out, T v) {
  char bytes[sizeof(T)];
  for (std::size_t i = 0; i < sizeof(T); ++i) {
    bytes[sizeof(T) - 1 - i] = static_cast<char>(v & 0xff);
    v = static_cast<T>(v >> 8);
  }
  out.append(bytes, sizeof(T));
}

}  // namespace

void patch_u32(std::string& out, std::size_t at, std::uint32_t v) noexcept {
  for (std::size_t i = 0; i < 4; ++i) out[at + i] = static_cast<char>(v >> (24 - 8 * i));
}

// --- reader ---

bool reader::fail(std::error_code e) noexcept {
  // The first error wins: it is the one that explains the others.
  if (!ec_) ec_ = e;
  return false;
}

bool reader::take(std::size_t n, const char*& p) noexcept {
  next_bit_ = 8;  // any non-bit field closes the bit octet
  if (ec_) return false;
  if (in_.size() - pos_ < n) return fail(errc::malformed_frame);
  p = in_.data() + pos_;
  pos_ += n;
  return true;
}

bool reader::u8(std::uint8_t& v) noexcept {
  const char* p = nullptr;
  if (!take(1, p)) return false;
  v = static_cast<std::uint8_t>(*p);
  return true;
}

bool reader::u16(std::uint16_t& v) noexcept {
  const char* p = nullptr;
  if (!take(2, p)) return false;
  v = load_be<std::uint16_t>(p);
  return true;
}

bool reader::u32(std::uint32_t& v) noexcept {
  const char* p = nullptr;
  if (!take(4, p)) return false;
  v = load_be<std::uint32_t>(p);
  return true;
}

bool reader::u64(std::uint64_t& v) noexcept {
  const char* p = nullptr;
  if (!take(8, p)) return false;
  v = load_be<std::uint64_t>(p);
  return true;
}

bool reader::bytes(std::size_t n, std::string_view& v) noexcept {
  const char* p = nullptr;
  if (!take(n, p)) return false;
  v = {p, n};
  return true;
}

bool reader::shortstr(std::string& v) {
  std::uint8_t n = 0;
  std::string_view s;
  if (!u8(n) || !bytes(n, s)) return false;
  v.assign(s);
  return true;
}

bool reader::longstr(std::string& v) {
  std::uint32_t n = 0;
  std::string_view s;
  if (!u32(n) || !bytes(n, s)) return false;
  v.assign(s);
  return true;
}

bool reader::bit(bool& v) noexcept {
  if (next_bit_ == 8) {
    std::uint8_t octet = 0;
    if (!u8(octet)) return false;
    bits_ = octet;
    next_bit_ = 0;
  }
  v = (bits_ >> next_bit_++) & 1;
  return true;
}

bool reader::reserved_u16() noexcept {
  std::uint16_t ignored = 0;
  return u16(ignored);
}

bool reader::reserved_shortstr() noexcept {
  std::uint8_t n = 0;
  std::string_view ignored;
  return u8(n) && bytes(n, ignored);
}

bool reader::reserved_longstr() noexcept {
  std::uint32_t n = 0;
  std::string_view ignored;
  return u32(n) && bytes(n, ignored);
}

bool reader::reserved_bit() noexcept {
  bool ignored = false;
  return bit(ignored);
}

// --- writer ---

bool writer::fail(std::error_code e) noexcept {
  if (!ec_) ec_ = e;
  return false;
}

bool writer::u8(std::uint8_t v) {
  next_bit_ = 8;
  out_.push_back(static_cast<char>(v));
  return true;
}

bool writer::u16(std::uint16_t v) {
  next_bit_ = 8;
  store_be(out_, v);
  return true;
}

bool writer::u32(std::uint32_t v) {
  next_bit_ = 8;
  store_be(out_, v);
  return true;
}

bool writer::u64(std::uint64_t v) {
  next_bit_ = 8;
  store_be(out_, v);
  return true;
}

bool writer::shortstr(std::string_view v) {
  // Truncating would send a different name (another exchange, another
  // routing key); refusing lets the caller say why.
  if (v.size() > std::numeric_limits<std::uint8_t>::max()) return fail(errc::field_too_long);
  u8(static_cast<std::uint8_t>(v.size()));
  out_.append(v);
  return true;
}

bool writer::longstr(std::string_view v) {
  if (v.size() > std::numeric_limits<std::uint32_t>::max()) return fail(errc::field_too_long);
  u32(static_cast<std::uint32_t>(v.size()));
  out_.append(v);
  return true;
}

bool writer::bit(bool v) {
  if (next_bit_ == 8) {
    bits_at_ = out_.size();
    out_.push_back('\0');
    next_bit_ = 0;
  }
  if (v) out_[bits_at_] = static_cast<char>(out_[bits_at_] | (1u << next_bit_));
  ++next_bit_;
  return true;
}

}  // namespace brokerside::protocol::amqp
