// The AMQP connection's settings, the broker's words and the handler types
// of its API, apart from the connection itself so that the sans-io parts
// (handshake, channel, session) use them without the I/O driver's header.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <system_error>

#include "protocol/amqp/content.h"
#include "protocol/amqp/methods.h"
#include "protocol/endpoint.h"

namespace brokerside::protocol::amqp {

struct connect_options {
  endpoint to;                                 // TCP or Unix, plain or TLS
  std::string user = "guest";                  // PLAIN
  std::string password = "guest";              // a secret: never in logs or errors
  std::string vhost = "/";                     // connection.open
  std::chrono::milliseconds timeout{5000};     // socket + TLS + handshake
  std::uint32_t frame_max = 131072;            // proposed; the broker's lower value wins (0: its)
  std::uint16_t channel_max = 2047;            // proposed; the lower wins
  std::chrono::seconds heartbeat{60};          // proposed; the lower non-zero wins; 0 with 0: off
  std::string connection_name;                 // client_properties.connection_name
  std::uint64_t max_message_bytes = 64 << 20;  // an incoming body beyond it: errc::frame_too_large
};

// What the broker said when it closed a channel or the connection
// (channel.close / connection.close), or returned a message (basic.return).
struct broker_reply {
  std::uint16_t code = 0;                     // 0 when the broker said nothing (a transport error)
  std::string text;                           // e.g. "NOT_FOUND - no exchange 'x' in vhost '/'"
  std::uint16_t class_id = 0, method_id = 0;  // the method that failed, if any
};

// A message the broker delivered to a consumer.
struct delivery {
  basic_deliver method;  // consumer tag, delivery tag, redelivered, exchange, routing key
  basic_properties properties;
  std::string body;
};

using channel_id = std::uint16_t;
// `reply` is the broker's words when it refused (auth, vhost, a channel or
// connection exception); empty for transport errors.
using done_handler = std::function<void(std::error_code, broker_reply reply)>;
using channel_handler = std::function<void(std::error_code, channel_id, broker_reply)>;
using method_handler = std::function<void(std::error_code, method reply, broker_reply)>;
using publish_handler = std::function<void(std::error_code, broker_reply, bool written)>;

}  // namespace brokerside::protocol::amqp
