// The AMQP 0-9-1 frame layer (spec 2.3.5, 4.2.3): the protocol header a
// client opens with, and the frames after it (type, channel, size, payload,
// frame-end). Pure: no I/O, no exceptions; errors through protocol::errc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace brokerside::protocol::amqp {

// What a client sends first: "AMQP", 0, then protocol 0-9-1.
inline constexpr std::string_view protocol_header{"AMQP\x00\x00\x09\x01", 8};

enum class frame_type : std::uint8_t {
  method = 1,
  header = 2,  // a content header: class, body size, properties
  body = 3,
  heartbeat = 8,
};

inline constexpr std::uint8_t frame_end = 0xCE;
inline constexpr std::size_t frame_header_size = 7;  // type u8, channel u16, size u32
inline constexpr std::size_t frame_overhead = 8;     // header and frame-end
// The frame_max every peer accepts before connection.tune settles it (the
// spec's frame-min-size; RabbitMQ 4.1 raised its own to 8192).
inline constexpr std::uint32_t frame_min_size = 4096;

struct frame {
  frame_type type = frame_type::heartbeat;
  std::uint16_t channel = 0;
  std::string_view payload;  // points into the input given to decode_frame
};

// Decodes one frame from the front of `in`. Returns the bytes it used, or 0
// if `in` holds only part of a frame (ec clear: call again with more), or 0
// with `ec` set, after which the connection must be closed:
// - errc::frame_too_large: the size field says more than `frame_max` allows
//   (frame_max counts the 8 bytes of overhead, as connection.tune does;
//   0 means no limit, as in tune). Checked from the 7 header bytes, so the
//   connection never buffers an oversized frame.
// - errc::malformed_frame: an unknown frame type, a missing frame-end, a
//   heartbeat with a payload.
// - errc::unsupported: the broker answered with a protocol header ("AMQP"
//   and the version it speaks, in the first 8 bytes of `in`) because it
//   refuses 0-9-1.
std::size_t decode_frame(std::string_view in, frame& out, std::error_code& ec,
                         std::uint32_t frame_max) noexcept;

// Appends one frame. `payload` must fit the u32 size field; keeping it
// within the negotiated frame_max is the caller's job (append_publish and
// append_method_frame do it).
void append_frame(std::string& out, frame_type type, std::uint16_t channel,
                  std::string_view payload);

// Appends a heartbeat: type 8 on channel 0, no payload.
void append_heartbeat(std::string& out);

// For encoders that write a payload in place: begin_frame appends a frame
// header with size 0 and returns where the frame starts; end_frame sets the
// size to what was appended since and adds the frame-end. The payload must
// fit the u32 size field.
std::size_t begin_frame(std::string& out, frame_type type, std::uint16_t channel);
void end_frame(std::string& out, std::size_t start);

}  // namespace brokerside::protocol::amqp
