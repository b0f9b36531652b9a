// The protocol layer's errors: what went wrong on the wire or the socket.
// The pool classifies them (connection errors retry, protocol errors close
// the one connection); sidecar/status.cc turns them into gRPC statuses.
#pragma once

#include <system_error>

namespace brokerside::protocol {

enum class errc {
  malformed_frame = 1,  // bytes that are not the protocol: the connection is closed
  frame_too_large,      // a frame or reply beyond the configured maximum
  nesting_too_deep,     // aggregates nested beyond the decoder's limit
  unsupported,          // valid protocol this adapter does not handle
  connection_closed,    // the peer closed the connection
  connect_timeout,      // connect + handshake took longer than connect_timeout
  handshake_failed,     // the broker refused the handshake (auth, vhost, ...)
  aborted,              // the connection was closed with the operation pending
  field_too_long,       // a value the protocol cannot carry (an AMQP name beyond 255 bytes)
  heartbeat_timeout,    // nothing heard from the broker for two heartbeat intervals
  broker_closed,        // the broker closed the connection (AMQP connection.close)
  channel_closed,       // the broker closed the channel (AMQP channel exception); connection kept
  publish_nacked,       // the broker refused a confirmed publish (basic.nack)
  publish_returned,     // a mandatory publish could not be routed (basic.return)
  refused,         // the broker refused the operation and said why (NATS -ERR); connection kept
  access_refused,  // the broker refused the login (credentials, rights to the vhost): the handshake
                   // failed
};

const std::error_category& protocol_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), protocol_category()};
}

}  // namespace brokerside::protocol

template <>
struct std::is_error_code_enum<brokerside::protocol::errc> : std::true_type {};
