// The exchange (40) and queue (50) class methods of AMQP 0-9-1 as plain
// structs: declaring, binding, purging and deleting the topology. Field
// names are the spec's; the reserved ticket field is not a member. Encoded
// and decoded by methods.h.
#pragma once

#include <cstdint>
#include <string>

#include "protocol/amqp/field_table.h"

namespace brokerside::protocol::amqp {

struct exchange_declare {
  static constexpr std::uint16_t class_id = 40, method_id = 10;
  std::string exchange;
  std::string type = "direct";
  bool passive = false;
  bool durable = false;
  bool auto_delete = false;
  bool internal = false;
  bool no_wait = false;
  field_table arguments;
  bool operator==(const exchange_declare&) const = default;
};

struct exchange_declare_ok {
  static constexpr std::uint16_t class_id = 40, method_id = 11;
  bool operator==(const exchange_declare_ok&) const = default;
};

struct exchange_delete {
  static constexpr std::uint16_t class_id = 40, method_id = 20;
  std::string exchange;
  bool if_unused = false;
  bool no_wait = false;
  bool operator==(const exchange_delete&) const = default;
};

struct exchange_delete_ok {
  static constexpr std::uint16_t class_id = 40, method_id = 21;
  bool operator==(const exchange_delete_ok&) const = default;
};

// Exchange-to-exchange bindings are a RabbitMQ extension.
struct exchange_bind {
  static constexpr std::uint16_t class_id = 40, method_id = 30;
  std::string destination;
  std::string source;
  std::string routing_key;
  bool no_wait = false;
  field_table arguments;
  bool operator==(const exchange_bind&) const = default;
};

struct exchange_bind_ok {
  static constexpr std::uint16_t class_id = 40, method_id = 31;
  bool operator==(const exchange_bind_ok&) const = default;
};

struct exchange_unbind {
  static constexpr std::uint16_t class_id = 40, method_id = 40;
  std::string destination;
  std::string source;
  std::string routing_key;
  bool no_wait = false;
  field_table arguments;
  bool operator==(const exchange_unbind&) const = default;
};

// 51, not 41: so numbered in RabbitMQ's spec and on the wire.
struct exchange_unbind_ok {
  static constexpr std::uint16_t class_id = 40, method_id = 51;
  bool operator==(const exchange_unbind_ok&) const = default;
};

struct queue_declare {
  static constexpr std::uint16_t class_id = 50, method_id = 10;
  std::string queue;  // empty: the broker names it
  bool passive = false;
  bool durable = false;
  bool exclusive = false;
  bool auto_delete = false;
  bool no_wait = false;
  field_table arguments;
  bool operator==(const queue_declare&) const = default;
};

struct queue_declare_ok {
  static constexpr std::uint16_t class_id = 50, method_id = 11;
  std::string queue;
  std::uint32_t message_count = 0;
  std::uint32_t consumer_count = 0;
  bool operator==(const queue_declare_ok&) const = default;
};

struct queue_bind {
  static constexpr std::uint16_t class_id = 50, method_id = 20;
  std::string queue;
  std::string exchange;
  std::string routing_key;
  bool no_wait = false;
  field_table arguments;
  bool operator==(const queue_bind&) const = default;
};

struct queue_bind_ok {
  static constexpr std::uint16_t class_id = 50, method_id = 21;
  bool operator==(const queue_bind_ok&) const = default;
};

struct queue_purge {
  static constexpr std::uint16_t class_id = 50, method_id = 30;
  std::string queue;
  bool no_wait = false;
  bool operator==(const queue_purge&) const = default;
};

struct queue_purge_ok {
  static constexpr std::uint16_t class_id = 50, method_id = 31;
  std::uint32_t message_count = 0;
  bool operator==(const queue_purge_ok&) const = default;
};

struct queue_delete {
  static constexpr std::uint16_t class_id = 50, method_id = 40;
  std::string queue;
  bool if_unused = false;
  bool if_empty = false;
  bool no_wait = false;
  bool operator==(const queue_delete&) const = default;
};

struct queue_delete_ok {
  static constexpr std::uint16_t class_id = 50, method_id = 41;
  std::uint32_t message_count = 0;
  bool operator==(const queue_delete_ok&) const = default;
};

// No no-wait bit: queue.unbind is always answered.
struct queue_unbind {
  static constexpr std::uint16_t class_id = 50, method_id = 50;
  std::string queue;
  std::string exchange;
  std::string routing_key;
  field_table arguments;
  bool operator==(const queue_unbind&) const = default;
};

struct queue_unbind_ok {
  static constexpr std::uint16_t class_id = 50, method_id = 51;
  bool operator==(const queue_unbind_ok&) const = default;
};

}  // namespace brokerside::protocol::amqp
