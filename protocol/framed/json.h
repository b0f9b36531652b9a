// JSON to and from the value tree, byte for byte as aiomas's JSON codec
// (Python's json.dumps with its defaults: ", " and ": " separators, every
// character outside printable ASCII escaped as \uXXXX, floats as Python's
// repr). Pure: no I/O, no exceptions; errors through std::error_code
// (protocol::errc).
#pragma once

#include <string>
#include <string_view>
#include <system_error>

#include "protocol/framed/value.h"

namespace brokerside::protocol::framed {

// Appends `v` to `out` as Python's json.dumps would write the same value.
// Fails, with `out` unchanged, with errc::unsupported for what JSON cannot
// carry: bin and ext (aiomas's JSON codec refuses bytes too), a map key
// that is not a str (Python would write 1 as "1" and None as "null", which
// do not come back as they went), NaN and infinities (Python writes NaN and
// Infinity, which are not JSON), a str that is not UTF-8; with
// errc::nesting_too_deep beyond lim.max_depth. A float (msgpack float 32)
// is written as the double it widens to, as Python would.
std::error_code encode_json(const value& v, std::string& out, const limits& lim = {});

// Decodes `in`, which must hold exactly one JSON value (whitespace around
// it allowed). Integers become int64 (uint64 above INT64_MAX), numbers with
// a fraction or exponent double; an object becomes a map with str keys, in
// order and with any duplicates. Errors:
// - errc::malformed_frame: not JSON (a UTF-8 byte order mark included,
//   which Python refuses too);
// - errc::nesting_too_deep: arrays and objects beyond lim.max_depth;
// - errc::frame_too_large: `in` beyond lim.max_bytes, or more than
//   lim.max_elements values (keys count);
// - errc::unsupported: what Python reads but the value tree cannot hold:
//   NaN, Infinity, -Infinity, a number beyond double's range (Python: inf),
//   an integer beyond 64 bits.
std::error_code decode_json(std::string_view in, value& out, const limits& lim = {}) noexcept;

}  // namespace brokerside::protocol::framed
