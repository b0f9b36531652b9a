// Message content in AMQP 0-9-1 (spec 4.2.6): the content header of class
// basic (body size and message properties) that follows basic.publish,
// basic.deliver and basic.return, and append_publish, which writes a whole
// publish: method frame, header frame, body frames cut to frame_max.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "protocol/amqp/basic_methods.h"
#include "protocol/amqp/field_table.h"

namespace brokerside::protocol::amqp {

// The basic class's properties, in wire order; an empty optional is absent
// on the wire (its property-flags bit clear). Short strings: 255 bytes at most.
struct basic_properties {
  std::optional<std::string> content_type;      // MIME type
  std::optional<std::string> content_encoding;  // MIME encoding
  std::optional<field_table> headers;
  std::optional<std::uint8_t> delivery_mode;  // 1 transient, 2 persistent
  std::optional<std::uint8_t> priority;       // 0-9
  std::optional<std::string> correlation_id;
  std::optional<std::string> reply_to;
  std::optional<std::string> expiration;  // per-message TTL, milliseconds as text
  std::optional<std::string> message_id;
  std::optional<std::uint64_t> timestamp;  // seconds since the epoch
  std::optional<std::string> type;
  std::optional<std::string> user_id;  // RabbitMQ checks it against the login
  std::optional<std::string> app_id;
  std::optional<std::string> cluster_id;  // deprecated in 0-9-1, still on the wire
  bool operator==(const basic_properties&) const = default;
};

inline constexpr std::uint16_t basic_class_id = 60;

struct content_header {
  std::uint64_t body_size = 0;  // the body frames that follow carry this much
  basic_properties properties;
  bool operator==(const content_header&) const = default;
};

// Appends a header frame's payload: class 60, weight 0, body size, property
// flags, the present properties. Fails, with `out` unchanged, on a short
// string beyond 255 bytes (errc::field_too_long) or too deep a headers table.
[[nodiscard]] std::error_code encode_content_header(std::uint64_t body_size,
                                                    const basic_properties& properties,
                                                    std::string& out);

// Decodes a header frame's payload, which it must fill exactly. Errors:
// errc::unsupported for a class other than basic; errc::malformed_frame for
// bytes that do not parse, or property flags with the continuation bit (basic
// has 14 properties, one flags word holds them all; the unused bit 1 is
// ignored). `out` is untouched on error.
std::error_code decode_content_header(std::string_view payload, content_header& out) noexcept;

// Appends one publish: the basic.publish method frame, the header frame and
// the body cut into frames of at most frame_max - 8 payload bytes (frame_max
// as tuned, 0: no limit); an empty body has no body frame. Fails, with `out`
// unchanged, as encode_method and encode_content_header do, and with
// errc::frame_too_large when the method or header frame alone would exceed
// frame_max.
[[nodiscard]] std::error_code append_publish(std::string& out, std::uint16_t channel,
                                             const basic_publish& publish,
                                             const basic_properties& properties,
                                             std::string_view body, std::uint32_t frame_max);

}  // namespace brokerside::protocol::amqp
