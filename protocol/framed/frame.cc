#include "protocol/framed/frame.h"

#include <limits>
#include <utility>

#include "protocol/errc.h"
#include "protocol/framed/json.h"
#include "protocol/framed/msgpack.h"

namespace brokerside::protocol::framed {
namespace {

// The content sits inside the triple's array: one level less for it.
limits content_limits(const limits& lim) {
  auto inner = lim;
  inner.max_depth = lim.max_depth > 0 ? lim.max_depth - 1 : 0;
  return inner;
}

std::error_code append_payload(std::string& out, codec c, const message& m, const limits& lim) {
  if (lim.max_depth == 0) return errc::nesting_too_deep;
  const value type{std::int64_t{static_cast<std::uint8_t>(m.type)}};
  const value id{m.id};
  if (c == codec::msgpack) {
    out += '\x93';  // fixarray of 3
    if (auto ec = encode_msgpack(type, out)) return ec;
    if (auto ec = encode_msgpack(id, out)) return ec;
    return encode_msgpack(m.content, out, content_limits(lim));
  }
  out += '[';
  if (auto ec = encode_json(type, out)) return ec;
  out += ", ";
  if (auto ec = encode_json(id, out)) return ec;
  out += ", ";
  if (auto ec = encode_json(m.content, out, content_limits(lim))) return ec;
  out += ']';
  return {};
}

// The decoded payload as a message: [type, id, content].
std::error_code to_message(value&& payload, message& out, std::int64_t* bad_type) {
  auto* triple = std::get_if<array>(&payload);
  if (triple == nullptr || triple->size() != 3) return errc::malformed_frame;
  const auto* type = std::get_if<std::int64_t>(&(*triple)[0]);
  const auto* id = std::get_if<std::int64_t>(&(*triple)[1]);
  if (type == nullptr || id == nullptr) return errc::malformed_frame;
  if (*type < 0 || *type > static_cast<std::int64_t>(message_type::exception)) {
    if (bad_type != nullptr) *bad_type = *type;
    return errc::unsupported;
  }
  out.type = static_cast<message_type>(*type);
  out.id = *id;
  out.content = std::move((*triple)[2]);
  return {};
}

}  // namespace

std::error_code append_message(std::string& out, codec c, const message& m, std::uint32_t max_frame,
                               const limits& lim) {
  const auto start = out.size();
  out.append(length_prefix_size, '\0');
  auto ec = append_payload(out, c, m, lim);
  const auto size = out.size() - start - length_prefix_size;
  if (!ec &&
      (size > std::numeric_limits<std::uint32_t>::max() || (max_frame != 0 && size > max_frame))) {
    ec = errc::frame_too_large;
  }
  if (ec) {
    out.resize(start);
    return ec;
  }
  for (std::size_t i = 0; i < length_prefix_size; ++i) {
    out[start + i] = static_cast<char>(size >> (8 * (length_prefix_size - 1 - i)));
  }
  return {};
}

std::size_t decode_message(std::string_view in, codec c, message& out, std::error_code& ec,
                           std::uint32_t max_frame, const limits& lim,
                           std::int64_t* bad_type) noexcept {
  ec.clear();
  if (in.size() < length_prefix_size) return 0;
  std::uint32_t size = 0;
  for (std::size_t i = 0; i < length_prefix_size; ++i) {
    size = (size << 8) | static_cast<std::uint8_t>(in[i]);
  }
  if ((max_frame != 0 && size > max_frame) || size > lim.max_bytes) {
    ec = errc::frame_too_large;
    return 0;
  }
  if (in.size() - length_prefix_size < size) return 0;
  const auto payload = in.substr(length_prefix_size, size);
  value v;
  if (c == codec::msgpack) {
    const auto used = decode_msgpack(payload, v, ec, lim);
    // The frame is whole: an object cut short or followed by more is not aiomas's.
    if (!ec && used != payload.size()) ec = errc::malformed_frame;
  } else {
    ec = decode_json(payload, v, lim);
  }
  if (!ec) {
    message m;
    ec = to_message(std::move(v), m, bad_type);
    if (!ec) out = std::move(m);
  }
  return ec ? 0 : length_prefix_size + size;
}

}  // namespace brokerside::protocol::framed
