// The AMQP 0-9-1 methods brokerside speaks, as one variant, and their codec:
// a method frame's payload is class id u16, method id u16, then the
// arguments. Every method encodes and decodes both ways, since close, cancel,
// ack and nack travel in either direction. Pure: no I/O, no exceptions on
// decode; errors through protocol::errc.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>

#include "protocol/amqp/basic_methods.h"
#include "protocol/amqp/connection_methods.h"
#include "protocol/amqp/queue_methods.h"

namespace brokerside::protocol::amqp {

using method =
    std::variant<connection_start, connection_start_ok, connection_secure, connection_secure_ok,
                 connection_tune, connection_tune_ok, connection_open, connection_open_ok,
                 connection_close, connection_close_ok, connection_blocked,
                 connection_unblocked,  //
                 channel_open, channel_open_ok, channel_flow, channel_flow_ok, channel_close,
                 channel_close_ok,  //
                 exchange_declare, exchange_declare_ok, exchange_delete, exchange_delete_ok,
                 exchange_bind, exchange_bind_ok, exchange_unbind, exchange_unbind_ok,  //
                 queue_declare, queue_declare_ok, queue_bind, queue_bind_ok, queue_purge,
                 queue_purge_ok, queue_delete, queue_delete_ok, queue_unbind, queue_unbind_ok,  //
                 basic_qos, basic_qos_ok, basic_consume, basic_consume_ok, basic_cancel,
                 basic_cancel_ok, basic_publish, basic_return, basic_deliver, basic_ack,
                 basic_reject, basic_recover, basic_recover_ok, basic_nack,  //
                 confirm_select, confirm_select_ok>;

// Appends the method's payload (ids and arguments) to `out`. Fails, with
// `out` unchanged, on a value the wire cannot carry: a short string (a
// name, routing key, consumer tag, reply text) beyond 255 bytes
// (errc::field_too_long) or a table nested beyond max_nesting.
[[nodiscard]] std::error_code encode_method(const method& m, std::string& out);

// Appends one method frame. Also fails, with `out` unchanged, with
// errc::frame_too_large when the frame would exceed `frame_max` (0: no
// limit); a broker closes the whole connection on such a frame.
[[nodiscard]] std::error_code append_method_frame(std::string& out, std::uint16_t channel,
                                                  const method& m, std::uint32_t frame_max);

// Decodes a method frame's payload, which it must fill exactly. Errors:
// errc::unsupported for a class/method pair not in `method` (the caller
// closes the connection and logs the ids: the first 4 bytes of `payload`);
// errc::malformed_frame for arguments that do not parse; errc::nesting_too_deep.
// `out` is untouched on error.
std::error_code decode_method(std::string_view payload, method& out) noexcept;

// The ids of the method `m` holds.
std::uint16_t class_id_of(const method& m) noexcept;
std::uint16_t method_id_of(const method& m) noexcept;

}  // namespace brokerside::protocol::amqp
