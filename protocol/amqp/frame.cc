#include "protocol/amqp/frame.h"

#include <algorithm>

#include "protocol/amqp/wire.h"
#include "protocol/errc.h"

namespace brokerside::protocol::amqp {
namespace {

bool known_type(std::uint8_t type) noexcept {
  switch (static_cast<frame_type>(type)) {
    case frame_type::method:
    case frame_type::header:
    case frame_type::body:
    case frame_type::heartbeat:
      return true;
  }
  return false;
}

// A broker that does not speak 0-9-1 writes its own protocol header and
// closes (spec 4.2.2). Its first byte, 'A', is no frame type.
std::size_t protocol_header_reply(std::string_view in, std::error_code& ec) noexcept {
  const auto n = std::min<std::size_t>(in.size(), 4);
  if (in.substr(0, n) != protocol_header.substr(0, n)) {
    ec = make_error_code(errc::malformed_frame);
  } else if (in.size() >= protocol_header.size()) {
    ec = make_error_code(errc::unsupported);
  }
  return 0;
}

}  // namespace

std::size_t decode_frame(std::string_view in, frame& out, std::error_code& ec,
                         std::uint32_t frame_max) noexcept {
  ec.clear();
  if (in.empty()) return 0;
  const auto type = static_cast<std::uint8_t>(in[0]);
  if (type == protocol_header[0]) return protocol_header_reply(in, ec);
  if (!known_type(type)) {
    ec = make_error_code(errc::malformed_frame);
    return 0;
  }
  if (in.size() < frame_header_size) return 0;

  reader head(in.substr(1, frame_header_size - 1));
  std::uint16_t channel = 0;
  std::uint32_t size = 0;
  head.u16(channel);
  head.u32(size);
  // 64-bit arithmetic: size + 8 must not wrap.
  const std::uint64_t total = std::uint64_t{size} + frame_overhead;
  if (frame_max != 0 && total > frame_max) {
    ec = make_error_code(errc::frame_too_large);
    return 0;
  }
  if (static_cast<frame_type>(type) == frame_type::heartbeat && size != 0) {
    ec = make_error_code(errc::malformed_frame);
    return 0;
  }
  if (in.size() < total) return 0;
  if (static_cast<std::uint8_t>(in[total - 1]) != frame_end) {
    ec = make_error_code(errc::malformed_frame);
    return 0;
  }
  out.type = static_cast<frame_type>(type);
  out.channel = channel;
  out.payload = in.substr(frame_header_size, size);
  return static_cast<std::size_t>(total);
}

void append_frame(std::string& out, frame_type type, std::uint16_t channel,
                  std::string_view payload) {
  out.reserve(out.size() + payload.size() + frame_overhead);
  const auto start = begin_frame(out, type, channel);
  out.append(payload);
  end_frame(out, start);
}

void append_heartbeat(std::string& out) { append_frame(out, frame_type::heartbeat, 0, {}); }

std::size_t begin_frame(std::string& out, frame_type type, std::uint16_t channel) {
  const auto start = out.size();
  writer w(out);
  w.u8(static_cast<std::uint8_t>(type));
  w.u16(channel);
  w.u32(0);
  return start;
}

void end_frame(std::string& out, std::size_t start) {
  const auto size = static_cast<std::uint32_t>(out.size() - start - frame_header_size);
  patch_u32(out, start + 3, size);
  out.push_back(static_cast<char>(frame_end));
}

}  // namespace brokerside::protocol::amqp
