// The value tree the framed adapter's codecs share: what an aiomas channel
// message carries as content, as MessagePack has it (JSON carries a subset).
// Decoding and re-encoding a msgpack value gives back its bytes whenever
// they were the shortest encoding (what msgpack-python writes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace brokerside::protocol::framed {

struct value;
struct map_entry;

// msgpack bin: bytes that are not text (Python bytes).
struct bin {
  std::string bytes;
  bool operator==(const bin&) const = default;
};

// msgpack ext: an application type and its bytes. The timestamp extension
// (type -1) stays an ext: it is not converted to a time.
struct ext {
  std::int8_t type = 0;
  std::string data;
  bool operator==(const ext&) const = default;
};

using array = std::vector<value>;
// A map keeps the order and any duplicate keys it arrived with; keys are any
// value (msgpack allows it, JSON only has strings).
using map = std::vector<map_entry>;

using value_variant = std::variant<std::monostate,  // msgpack nil, JSON null
                                   bool,            //
                                   std::int64_t,    // every integer that fits
                                   std::uint64_t,   // integers above INT64_MAX (see below)
                                   double,          // msgpack float 64, JSON numbers with . or e
                                   float,        // msgpack float 32, kept so it encodes back as one
                                   std::string,  // text: msgpack str, JSON string; UTF-8
                                   bin,          //
                                   array,        //
                                   map,          //
                                   ext>;         //

// One value: a variant (std::get, std::visit, index() work on it) that can
// hold arrays and maps of itself. The decoders put an integer in the int64
// alternative whenever it fits and in uint64 only above INT64_MAX; the
// encoders take either, and == compares integers by value across the two.
// float and double are different alternatives: 1.5f != 1.5, and NaN is
// unequal to itself as usual.
// Construct with the exact type: value{std::int64_t{1}}, value{1.5},
// value{std::string("text")}, value{bin{"bytes"}}.
struct value : value_variant {
  using value_variant::value_variant;
  using value_variant::operator=;
  // Out of line: the alternatives need the type complete (as field_value).
  bool operator==(const value& other) const;
};

struct map_entry {
  value key;
  value val;
  bool operator==(const map_entry& other) const;
};

// What a decoder accepts from one message, checked before anything is
// allocated: a hostile header ("an array of 2^32 elements") is refused from
// its few bytes.
struct limits {
  std::size_t max_depth = 64;          // arrays and maps nested: errc::nesting_too_deep
  std::size_t max_elements = 1 << 20;  // values in one message, all levels: errc::frame_too_large
  std::size_t max_bytes = 64 << 20;    // one encoded message: errc::frame_too_large
};

// Whether `text` is UTF-8 as Python accepts it (no surrogates, no overlong
// forms, nothing above U+10FFFF): msgpack-python refuses to unpack a str
// that is not, and Python cannot write one.
bool valid_utf8(std::string_view text) noexcept;

}  // namespace brokerside::protocol::framed
