// MessagePack (github.com/msgpack/msgpack spec.md) to and from the value
// tree: aiomas's MsgPack codec, which is msgpack-python's packb with
// use_bin_type=True (str and bin kept apart). Pure: no I/O, no exceptions;
// errors through std::error_code (protocol::errc).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>

#include "protocol/framed/value.h"

namespace brokerside::protocol::framed {

// Appends `v` to `out` in the shortest encoding of each item, as
// msgpack-python writes it: non-negative integers in the uint formats,
// negative ones in the int formats, double as float 64 and float as float 32,
// str in fixstr/str 8/16/32, ext in fixext when its size allows. Fails, with
// `out` unchanged, on arrays and maps nested beyond `lim.max_depth`
// (errc::nesting_too_deep), on a str, bin, ext, array or map beyond 2^32-1
// (errc::frame_too_large), and on a str that is not UTF-8 (errc::unsupported:
// no msgpack-python peer could read it).
std::error_code encode_msgpack(const value& v, std::string& out, const limits& lim = {});

// Decodes one object from the front of `in`. Returns the bytes it used, or 0
// if `in` holds only part of an object (ec clear: call again with more), or
// 0 with `ec` set:
// - errc::malformed_frame: 0xc1 (never used), a str that is not UTF-8;
// - errc::nesting_too_deep: arrays and maps nested beyond lim.max_depth;
// - errc::frame_too_large: a length or count beyond lim.max_bytes, or more
//   than lim.max_elements values in all, refused from the header alone.
// Every integer that fits int64 decodes to int64 (an int 8 that holds 5 and
// a positive fixint are the same value), so re-encoding is the shortest form.
std::size_t decode_msgpack(std::string_view in, value& out, std::error_code& ec,
                           const limits& lim = {}) noexcept;

}  // namespace brokerside::protocol::framed
