// Between the v1 API and AMQP 0-9-1: messages and their properties, header
// tables and Values, Send{command} argument vectors and the methods they
// name, and the broker's reply codes. Pure: no connection, no I/O.
#pragma once

#include <grpcpp/support/status.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "brokerside/v1/brokerside.pb.h"
#include "protocol/amqp/connection_types.h"
#include "protocol/amqp/content.h"
#include "protocol/amqp/methods.h"

namespace brokerside::sidecar::amqp_translate {

// The properties of `message` (content_type defaults to application/json
// for json content). INVALID_ARGUMENT for what AMQP cannot carry: `value`
// content, a priority above 255, a header value with no field type.
grpc::Status properties_of(const v1::Message& message, protocol::amqp::basic_properties& out);

// The bytes to publish: `body`, or the `json` text. A view into `message`.
std::string_view body_of(const v1::Message& message);

// A delivered or returned message as a v1::Message (body as bytes; string
// header values as text when they are UTF-8, else bytes). Moves from both.
void to_v1(protocol::amqp::basic_properties&& properties, std::string&& body, v1::Message& out);

// Header values both ways.
grpc::Status to_field(const v1::Value& value, protocol::amqp::field_value& out);
void to_v1(const protocol::amqp::field_value& value, v1::Value& out);

// The method a Send{command} names, e.g. ["queue.declare", "jobs"] with
// options {"durable": true}. INVALID_ARGUMENT, saying what is accepted, for
// an unknown method, a wrong number of arguments or an unknown option.
grpc::Status to_method(const v1::Command& command, protocol::amqp::method& out);

// Whether running the command twice is harmless (declare, bind, unbind,
// delete; not purge).
bool idempotent(const v1::Command& command);

// The broker's -ok reply as a Value: a map of its fields, e.g.
// {"queue": "amq.gen-...", "message_count": 0, "consumer_count": 0}.
void to_v1(const protocol::amqp::method& reply, v1::Value& out);

// The pool error for an AMQP reply code: 404 and 312 (NO_ROUTE) not found,
// 403 access refused, 405 and 406 refused by precondition, others (320
// CONNECTION_FORCED, 5xx) unavailable.
std::error_code error_for_reply_code(std::uint16_t code);

// The broker's words for a status message: "amqp: 404 NOT_FOUND - ...", or
// "amqp: " and the error's own text when the broker said nothing.
std::string describe(const protocol::amqp::broker_reply& reply, std::error_code ec);

}  // namespace brokerside::sidecar::amqp_translate
