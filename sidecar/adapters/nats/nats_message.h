// Between v1::Message and NATS messages: headers (message_id as
// Nats-Msg-Id), payload, and a received message's headers, status and reply
// subject.
#pragma once

#include <grpcpp/support/status.h>

#include <string>

#include "brokerside/v1/brokerside.pb.h"
#include "protocol/nats/codec.h"

namespace brokerside::sidecar::nats_message {

// The message's headers as a NATS/1.0 block in `out` (empty when it has
// none), or INVALID_ARGUMENT naming the header at fault.
grpc::Status headers_of(const v1::Message& message, std::string& out);

// The payload: `json` as its text, else `body`.
const std::string& payload_of(const v1::Message& message);

// A received message (a reply, a delivery): its payload as body, its
// headers (and status, as Nats-Status) in headers, its reply subject in
// reply_to.
void to_v1(protocol::nats::msg&& in, v1::Message& out);

}  // namespace brokerside::sidecar::nats_message
