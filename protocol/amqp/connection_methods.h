// The connection (10) and channel (20) class methods of AMQP 0-9-1 as plain
// structs: the handshake, tuning, flow and the close exchanges. Field names
// are the spec's; reserved fields are not members (they go out as zero or
// empty and are skipped on decode). Encoded and decoded by methods.h.
#pragma once

#include <cstdint>
#include <string>

#include "protocol/amqp/field_table.h"

namespace brokerside::protocol::amqp {

// The broker's first frame: its version, properties (capabilities among
// them) and the SASL mechanisms it offers.
struct connection_start {
  static constexpr std::uint16_t class_id = 10, method_id = 10;
  std::uint8_t version_major = 0;
  std::uint8_t version_minor = 9;
  field_table server_properties;
  std::string mechanisms = "PLAIN";  // space-separated
  std::string locales = "en_US";     // space-separated
  bool operator==(const connection_start&) const = default;
};

struct connection_start_ok {
  static constexpr std::uint16_t class_id = 10, method_id = 11;
  field_table client_properties;
  std::string mechanism = "PLAIN";
  std::string response;  // PLAIN: "\0user\0password"
  std::string locale = "en_US";
  bool operator==(const connection_start_ok&) const = default;
};

struct connection_secure {
  static constexpr std::uint16_t class_id = 10, method_id = 20;
  std::string challenge;
  bool operator==(const connection_secure&) const = default;
};

struct connection_secure_ok {
  static constexpr std::uint16_t class_id = 10, method_id = 21;
  std::string response;
  bool operator==(const connection_secure_ok&) const = default;
};

// Zero means "no limit" for every field of tune and tune-ok.
struct connection_tune {
  static constexpr std::uint16_t class_id = 10, method_id = 30;
  std::uint16_t channel_max = 0;
  std::uint32_t frame_max = 0;  // including the 8 bytes of frame overhead
  std::uint16_t heartbeat = 0;  // seconds
  bool operator==(const connection_tune&) const = default;
};

struct connection_tune_ok {
  static constexpr std::uint16_t class_id = 10, method_id = 31;
  std::uint16_t channel_max = 0;
  std::uint32_t frame_max = 0;
  std::uint16_t heartbeat = 0;
  bool operator==(const connection_tune_ok&) const = default;
};

struct connection_open {
  static constexpr std::uint16_t class_id = 10, method_id = 40;
  std::string virtual_host = "/";
  bool operator==(const connection_open&) const = default;
};

struct connection_open_ok {
  static constexpr std::uint16_t class_id = 10, method_id = 41;
  bool operator==(const connection_open_ok&) const = default;
};

// Either side. The spec's class-id and method-id fields (the method that
// caused the close, 0 if none) are renamed failing_*: class_id and method_id
// are this struct's own ids.
struct connection_close {
  static constexpr std::uint16_t class_id = 10, method_id = 50;
  std::uint16_t reply_code = 0;
  std::string reply_text;
  std::uint16_t failing_class_id = 0;
  std::uint16_t failing_method_id = 0;
  bool operator==(const connection_close&) const = default;
};

struct connection_close_ok {
  static constexpr std::uint16_t class_id = 10, method_id = 51;
  bool operator==(const connection_close_ok&) const = default;
};

// RabbitMQ extension (capability connection.blocked): the broker stopped
// reading publishes, typically on a memory or disk alarm.
struct connection_blocked {
  static constexpr std::uint16_t class_id = 10, method_id = 60;
  std::string reason;
  bool operator==(const connection_blocked&) const = default;
};

struct connection_unblocked {
  static constexpr std::uint16_t class_id = 10, method_id = 61;
  bool operator==(const connection_unblocked&) const = default;
};

struct channel_open {
  static constexpr std::uint16_t class_id = 20, method_id = 10;
  bool operator==(const channel_open&) const = default;
};

struct channel_open_ok {
  static constexpr std::uint16_t class_id = 20, method_id = 11;
  bool operator==(const channel_open_ok&) const = default;
};

struct channel_flow {
  static constexpr std::uint16_t class_id = 20, method_id = 20;
  bool active = false;
  bool operator==(const channel_flow&) const = default;
};

struct channel_flow_ok {
  static constexpr std::uint16_t class_id = 20, method_id = 21;
  bool active = false;
  bool operator==(const channel_flow_ok&) const = default;
};

// Either side; failing_* as in connection_close.
struct channel_close {
  static constexpr std::uint16_t class_id = 20, method_id = 40;
  std::uint16_t reply_code = 0;
  std::string reply_text;
  std::uint16_t failing_class_id = 0;
  std::uint16_t failing_method_id = 0;
  bool operator==(const channel_close&) const = default;
};

struct channel_close_ok {
  static constexpr std::uint16_t class_id = 20, method_id = 41;
  bool operator==(const channel_close_ok&) const = default;
};

}  // namespace brokerside::protocol::amqp
