// The aiomas channel frame (aiomas 2.0.1, channel.py): a 4-byte big-endian
// payload length, then the payload, the triple [msg_type, msg_id, content]
// encoded as a 3-element array by the channel's codec. Pure: no I/O, no
// exceptions; errors through std::error_code (protocol::errc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "protocol/framed/value.h"

namespace brokerside::protocol::framed {

// The channel's codec: fixed per connection, never negotiated. aiomas's
// default (DEFAULT_CODEC) is JSON.
enum class codec : std::uint8_t { msgpack, json };

enum class message_type : std::uint8_t {
  request = 0,    // content: what the sender's application sent
  result = 1,     // answers the request with the same id; content: the result
  exception = 2,  // answers it with a failure; content: the error text (aiomas: a traceback)
};

inline constexpr std::size_t length_prefix_size = 4;

struct message {
  message_type type = message_type::request;
  // Each end numbers its own requests (aiomas: 0, 1, 2, ... per channel)
  // and a reply carries the number of the request it answers, so a request
  // and a reply with the same id are unrelated. aiomas never sends a
  // negative id; one above INT64_MAX is refused (errc::malformed_frame).
  std::int64_t id = 0;
  value content;
  bool operator==(const message&) const = default;
};

// Appends one frame. Fails, with `out` unchanged, with the codec's error
// (errc::unsupported: JSON cannot carry the content; nesting_too_deep), or
// errc::frame_too_large if the payload is beyond `max_frame` bytes (0: the
// u32 length field is the only limit). The depth limit is the one the
// decoders apply: the triple's array is a level.
std::error_code append_message(std::string& out, codec c, const message& m,
                               std::uint32_t max_frame = 0, const limits& lim = {});

// Decodes one frame from the front of `in`. Returns the bytes it used
// (prefix included), or 0 if `in` holds only part of a frame (ec clear:
// call again with more), or 0 with `ec` set, after which the connection
// must be closed (aiomas closes the channel on a message it cannot take):
// - errc::frame_too_large: the length prefix says more than `max_frame`
//   (0: no limit but lim.max_bytes), decided from the 4 prefix bytes, so an
//   oversized frame is never buffered; or the content breaks `lim`;
// - errc::malformed_frame: the payload is not the codec's encoding of one
//   3-element array with an integer type and an integer id, or has bytes
//   after it;
// - errc::unsupported: a msg_type other than 0, 1, 2 (aiomas raises "Invalid
//   message type"), or JSON content the value tree cannot hold (NaN, ...);
// - errc::nesting_too_deep: content nested beyond lim.max_depth.
// For an unknown msg_type, `bad_type` (if given) receives it.
std::size_t decode_message(std::string_view in, codec c, message& out, std::error_code& ec,
                           std::uint32_t max_frame = 0, const limits& lim = {},
                           std::int64_t* bad_type = nullptr) noexcept;

}  // namespace brokerside::protocol::framed
