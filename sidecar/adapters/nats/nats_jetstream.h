// JetStream's JSON answers as the NATS adapter reads them: a PubAck or an
// API response, its "error" object as the call's failure, and any JSON as a
// v1::Value.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "brokerside/v1/brokerside.pb.h"
#include "sidecar/operation_adapter.h"

namespace brokerside::sidecar::nats_jetstream {

// `payload` (a JetStream reply) parsed into `out`; the failure it says when
// it is an error object or not JSON at all.
std::optional<attempt_outcome> parse(std::string_view payload, nlohmann::json& out);

// The error object of a JetStream answer as the call's failure: its code
// (HTTP-like) and err_code say which status: 404 -> NOT_FOUND, 503 ->
// UNAVAILABLE, 403 -> PERMISSION_DENIED, 400 -> INVALID_ARGUMENT except a
// name in use or a failed expectation (FAILED_PRECONDITION), else
// FAILED_PRECONDITION.
attempt_outcome error_outcome(const nlohmann::json& error);

void to_v1(const nlohmann::json& in, v1::Value& out);

}  // namespace brokerside::sidecar::nats_jetstream
