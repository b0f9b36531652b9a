// AMQP 0-9-1 field tables and arrays: the typed key/value maps of
// connection properties, queue and exchange arguments and message headers.
// The type letters are RabbitMQ's (amqp-0-9-1-errata), not the 0-9-1 XML's:
// 's' is a signed 16-bit integer and there is no short-string field type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

namespace brokerside::protocol::amqp {

// 'D': value / 10^scale.
struct decimal {
  std::uint8_t scale = 0;
  std::uint32_t value = 0;
  bool operator==(const decimal&) const = default;
};

// 'T': seconds since the epoch (a distinct type so a u64 is not mistaken for it).
struct timestamp {
  std::uint64_t seconds = 0;
  bool operator==(const timestamp&) const = default;
};

// 'x': bytes RabbitMQ keeps apart from 'S' long strings.
struct byte_array {
  std::string bytes;
  bool operator==(const byte_array&) const = default;
};

struct field_value;
struct field;
using field_array = std::vector<field_value>;  // 'A'
// A table keeps the order and any duplicate names it arrived with.
using field_table = std::vector<field>;  // 'F'

using field_variant = std::variant<std::monostate,  // 'V' void
                                   bool,            // 't'
                                   std::int8_t,     // 'b'
                                   std::uint8_t,    // 'B'
                                   std::int16_t,    // 's'
                                   std::uint16_t,   // 'u'
                                   std::int32_t,    // 'I'
                                   std::uint32_t,   // 'i'
                                   std::int64_t,    // 'l' (RabbitMQ also reads 'L' so)
                                   float,           // 'f'
                                   double,          // 'd'
                                   decimal,         // 'D'
                                   std::string,     // 'S' long string
                                   field_array,     // 'A'
                                   timestamp,       // 'T'
                                   field_table,     // 'F'
                                   byte_array>;     // 'x'

// One field value: a variant (std::get, std::visit, index() work on it)
// that can hold tables and arrays of itself. Integers take the alternative
// of their exact type: field_value{std::int16_t{5}} is an 's'.
struct field_value : field_variant {
  using field_variant::field_variant;
  using field_variant::operator=;
  // Out of line: a defaulted == would be checked while the type, which the
  // alternatives need complete, is not (clang refuses).
  bool operator==(const field_value& other) const;
};

// One table entry. Not a std::pair: libstdc++'s pair checks its members'
// traits on instantiation, which a table inside its own value type cannot
// pass (clang refuses).
struct field {
  std::string name;
  field_value value;
  bool operator==(const field& other) const;
};

// The letter a value is written with ('V', 't', ... in variant order).
char type_letter(const field_value& v) noexcept;

// Tables and arrays nested deeper than this are refused both ways
// (errc::nesting_too_deep): RabbitMQ never sends more than a few levels,
// and a limit keeps a hostile frame from exhausting the stack.
inline constexpr std::size_t max_nesting = 32;

// The table as it appears in a method or property: a u32 byte length, then
// name (shortstr) / letter / value entries. Fails, with `out` unchanged, on a
// name beyond 255 bytes (errc::field_too_long) or too deep a nesting.
std::error_code encode_table(const field_table& table, std::string& out);

// Decodes one whole table (length prefix included) that must fill `in`.
std::error_code decode_table(std::string_view in, field_table& out) noexcept;

}  // namespace brokerside::protocol::amqp
