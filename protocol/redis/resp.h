// RESP2 and RESP3, the Redis serialization protocols: commands encoded as
// arrays of bulk strings, replies decoded into a value tree. Pure: no I/O,
// no exceptions; errors through std::error_code (protocol::errc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace brokerside::protocol::redis {

enum class resp_type : std::uint8_t {
  simple_string,  // +OK
  error,          // -ERR ... and RESP3 blob errors (!)
  integer,        // :1
  bulk_string,    // $3 abc
  array,          // *2 ...
  null,           // RESP2 $-1 / *-1, RESP3 _
  double_value,   // ,3.14 (also inf, -inf, nan)
  boolean,        // #t
  big_number,     // (123...
  verbatim,       // =txt:... (text holds what follows "txt:")
  map,            // %n: elements hold key, value, key, value, ...
  set,            // ~n
  push,           // >n (out-of-band: pub/sub messages, invalidations)
};

struct value {
  resp_type type = resp_type::null;
  std::string text;             // strings, errors, big numbers, verbatim
  std::int64_t integer = 0;     // integer
  double number = 0;            // double_value
  bool boolean = false;         // boolean
  std::vector<value> elements;  // array, set, push; map as key, value pairs
};

// Appends `args` as a RESP command (an array of bulk strings) to `out`.
void encode_command(std::span<const std::string_view> args, std::string& out);

struct decoder_limits {
  std::size_t max_reply_bytes = 64 << 20;  // one reply, all of it
  std::size_t max_depth = 64;              // nested aggregates
};

// Decodes one reply from the front of `input`. Returns the bytes it used,
// or 0 if `input` holds only part of a reply (call again with more); sets
// `ec` (and returns 0) if the bytes are not RESP or break a limit, after
// which the connection must be closed. RESP3 attributes (|) are skipped.
std::size_t decode(std::string_view input, value& out, std::error_code& ec,
                   const decoder_limits& limits = {}) noexcept;

// Finds where the reply at the front of a growing buffer ends, remembering
// how far it got between calls: a large reply that arrives in many reads is
// scanned once, then decoded once (decode() alone would start over on every
// read, quadratic in the reply's size). It checks only the framing and the
// limits; decode() checks the rest.
class reply_scanner {
 public:
  explicit reply_scanner(const decoder_limits& limits = {}) : limits_(limits) {}

  // `input` starts where the reply starts and holds at least what the last
  // call saw. Returns the reply's length once all of it is there (and
  // starts over for the next reply), 0 while more is needed; sets `ec` (and
  // returns 0) on bytes that are not RESP or break a limit.
  std::size_t scan(std::string_view input, std::error_code& ec) noexcept;

 private:
  struct level {
    std::uint64_t left;  // elements still to come
    bool attribute;      // a RESP3 attribute: the element after it is the one that counts
  };

  decoder_limits limits_;
  std::vector<level> open_;  // aggregates begun and not finished, innermost last
  std::size_t pos_ = 0;      // where the next element starts
};

}  // namespace brokerside::protocol::redis
