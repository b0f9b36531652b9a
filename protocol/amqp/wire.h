// The AMQP 0-9-1 data types on the wire (spec 4.2.5): a reader over one
// frame payload and a writer appending to a string, both big-endian, both
// packing consecutive bit fields into octets. Methods, content headers and
// field tables are built from these two.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "protocol/amqp/field_table.h"
#include "protocol/errc.h"

namespace brokerside::protocol::amqp {

// Reads one payload front to back. Each read returns false when it cannot
// (the payload ends early, a length runs past it, a table is malformed);
// error() then says why and every later read fails too. A payload is a
// whole frame, so running short is malformed, never "need more".
class reader {
 public:
  explicit reader(std::string_view in, std::size_t depth = 0) noexcept : in_(in), depth_(depth) {}

  bool u8(std::uint8_t& v) noexcept;
  bool u16(std::uint16_t& v) noexcept;
  bool u32(std::uint32_t& v) noexcept;
  bool u64(std::uint64_t& v) noexcept;
  bool shortstr(std::string& v);  // u8 length, bytes
  bool longstr(std::string& v);   // u32 length, bytes
  bool table(field_table& v);     // defined in field_table.cc
  // Consecutive bits share an octet, lowest bit first, eight to an octet;
  // any other read in between closes the octet. Unused bits are ignored,
  // as RabbitMQ does.
  bool bit(bool& v) noexcept;
  bool bytes(std::size_t n, std::string_view& v) noexcept;

  // Reserved fields (ticket, out-of-band, known-hosts, ...): read and dropped.
  bool reserved_u16() noexcept;
  bool reserved_shortstr() noexcept;
  bool reserved_longstr() noexcept;
  bool reserved_bit() noexcept;

  bool fail(std::error_code e) noexcept;  // the first error sticks
  bool at_end() const noexcept { return pos_ == in_.size(); }
  std::size_t depth() const noexcept { return depth_; }
  std::error_code error() const noexcept { return ec_; }

 private:
  bool take(std::size_t n, const char*& p) noexcept;

  std::string_view in_;
  std::size_t pos_ = 0;
  std::size_t depth_;      // tables/arrays around this payload
  std::uint8_t bits_ = 0;  // the octet bit() is reading from
  unsigned next_bit_ = 8;  // 8: no bit octet open
  std::error_code ec_;
};

// Appends fields to `out`. Writes return false only for values the wire
// cannot carry (a shortstr beyond 255 bytes, a longstr beyond 4 GiB, a table
// nested too deep); error() then says why and the caller drops what was
// written.
class writer {
 public:
  explicit writer(std::string& out, std::size_t depth = 0) noexcept : out_(out), depth_(depth) {}

  bool u8(std::uint8_t v);
  bool u16(std::uint16_t v);
  bool u32(std::uint32_t v);
  bool u64(std::uint64_t v);
  bool shortstr(std::string_view v);
  bool longstr(std::string_view v);
  bool table(const field_table& v);  // defined in field_table.cc
  bool bit(bool v);

  bool reserved_u16() { return u16(0); }
  bool reserved_shortstr() { return u8(0); }
  bool reserved_longstr() { return u32(0); }
  bool reserved_bit() { return bit(false); }

  bool fail(std::error_code e) noexcept;  // the first error sticks
  std::size_t depth() const noexcept { return depth_; }
  std::error_code error() const noexcept { return ec_; }
  std::string& out() noexcept { return out_; }

 private:
  std::string& out_;
  std::size_t depth_;
  std::size_t bits_at_ = 0;  // where the open bit octet is in out_
  unsigned next_bit_ = 8;    // 8: no bit octet open
  std::error_code ec_;
};

// Overwrites the 4 bytes at `at` with `v`, big-endian: for length fields
// known only once what they measure has been written.
void patch_u32(std::string& out, std::size_t at, std::uint32_t v) noexcept;

}  // namespace brokerside::protocol::amqp
