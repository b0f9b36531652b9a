// The basic (60) and confirm (85) class methods of AMQP 0-9-1 as plain
// structs: publishing, consuming, acknowledging and publisher confirms.
// Field names are the spec's; the reserved ticket field is not a member.
// Encoded and decoded by methods.h.
#pragma once

#include <cstdint>
#include <string>

#include "protocol/amqp/field_table.h"

namespace brokerside::protocol::amqp {

struct basic_qos {
  static constexpr std::uint16_t class_id = 60, method_id = 10;
  std::uint32_t prefetch_size = 0;  // RabbitMQ refuses anything but 0
  std::uint16_t prefetch_count = 0;
  bool global = false;
  bool operator==(const basic_qos&) const = default;
};

struct basic_qos_ok {
  static constexpr std::uint16_t class_id = 60, method_id = 11;
  bool operator==(const basic_qos_ok&) const = default;
};

struct basic_consume {
  static constexpr std::uint16_t class_id = 60, method_id = 20;
  std::string queue;
  std::string consumer_tag;  // empty: the broker picks one
  bool no_local = false;
  bool no_ack = false;
  bool exclusive = false;
  bool no_wait = false;
  field_table arguments;
  bool operator==(const basic_consume&) const = default;
};

struct basic_consume_ok {
  static constexpr std::uint16_t class_id = 60, method_id = 21;
  std::string consumer_tag;
  bool operator==(const basic_consume_ok&) const = default;
};

// Either side: the broker sends it when the queue goes away and the client
// announced the consumer_cancel_notify capability.
struct basic_cancel {
  static constexpr std::uint16_t class_id = 60, method_id = 30;
  std::string consumer_tag;
  bool no_wait = false;
  bool operator==(const basic_cancel&) const = default;
};

struct basic_cancel_ok {
  static constexpr std::uint16_t class_id = 60, method_id = 31;
  std::string consumer_tag;
  bool operator==(const basic_cancel_ok&) const = default;
};

// Followed by a content header and body frames (content.h).
struct basic_publish {
  static constexpr std::uint16_t class_id = 60, method_id = 40;
  std::string exchange;  // empty: the default exchange
  std::string routing_key;
  bool mandatory = false;
  bool immediate = false;  // RabbitMQ closes the channel if set
  bool operator==(const basic_publish&) const = default;
};

// A mandatory publish that no queue took; content follows.
struct basic_return {
  static constexpr std::uint16_t class_id = 60, method_id = 50;
  std::uint16_t reply_code = 0;
  std::string reply_text;
  std::string exchange;
  std::string routing_key;
  bool operator==(const basic_return&) const = default;
};

// A message for a consumer; content follows.
struct basic_deliver {
  static constexpr std::uint16_t class_id = 60, method_id = 60;
  std::string consumer_tag;
  std::uint64_t delivery_tag = 0;
  bool redelivered = false;
  std::string exchange;
  std::string routing_key;
  bool operator==(const basic_deliver&) const = default;
};

// Either side: from the broker it confirms publishes (confirm mode).
struct basic_ack {
  static constexpr std::uint16_t class_id = 60, method_id = 80;
  std::uint64_t delivery_tag = 0;
  bool multiple = false;  // every tag up to and including delivery_tag
  bool operator==(const basic_ack&) const = default;
};

struct basic_reject {
  static constexpr std::uint16_t class_id = 60, method_id = 90;
  std::uint64_t delivery_tag = 0;
  bool requeue = true;
  bool operator==(const basic_reject&) const = default;
};

struct basic_recover {
  static constexpr std::uint16_t class_id = 60, method_id = 110;
  bool requeue = false;
  bool operator==(const basic_recover&) const = default;
};

struct basic_recover_ok {
  static constexpr std::uint16_t class_id = 60, method_id = 111;
  bool operator==(const basic_recover_ok&) const = default;
};

// RabbitMQ extension. Either side: from the broker it refuses publishes
// (confirm mode).
struct basic_nack {
  static constexpr std::uint16_t class_id = 60, method_id = 120;
  std::uint64_t delivery_tag = 0;
  bool multiple = false;
  bool requeue = true;
  bool operator==(const basic_nack&) const = default;
};

// RabbitMQ extension: publisher confirms on this channel.
struct confirm_select {
  static constexpr std::uint16_t class_id = 85, method_id = 10;
  bool no_wait = false;
  bool operator==(const confirm_select&) const = default;
};

struct confirm_select_ok {
  static constexpr std::uint16_t class_id = 85, method_id = 11;
  bool operator==(const confirm_select_ok&) const = default;
};

}  // namespace brokerside::protocol::amqp
