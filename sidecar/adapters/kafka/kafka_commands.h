// Send{command} on a Kafka target: topic create / delete / describe, the
// cluster's metadata, a topic's offsets and a group's lag; answered as a
// reply Value (maps and arrays) a client reads without a Kafka library.
#pragma once

#include <grpcpp/support/status.h>

#include <string>

#include "brokerside/v1/brokerside.pb.h"
#include "protocol/kafka/producer.h"
#include "sidecar/operation_adapter.h"

namespace brokerside::sidecar {

// OK, or INVALID_ARGUMENT saying the command's shape.
grpc::Status check_kafka_command(const v1::Command& command);

// Runs a checked `command` on `producer`; done(outcome) once, on its executor.
void run_kafka_command(protocol::kafka::producer& producer, const v1::Command& command,
                       operation_adapter::outcome_handler done);

// How a Kafka failure reaches the pool: its kind (NOT_FOUND for an unknown
// topic, INVALID_ARGUMENT for too large, a connection failure for no
// broker, ...), whether it may have been written, the broker's words.
attempt_outcome kafka_failure(const protocol::kafka::error& e, bool maybe_written,
                              const std::string& topic);

grpc::Status kafka_invalid(std::string text);

}  // namespace brokerside::sidecar
