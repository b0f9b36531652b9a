// The Kafka adapter: a pooled "connection" is one librdkafka producer
// (protocol::kafka::producer), which holds its own broker connections;
// Send{publish} as a record confirmed per the target's acks (PublishAck
// partition and offset), Send{command} as topic create / delete, Recv as a
// consumer-group member per stream (kafka_subscription.h), nacks to a
// dead-letter topic (dead_letters.h), commands (kafka_commands.h), and a
// lease as a transactional producer (txn.begin / txn.commit / txn.abort).
#pragma once

#include "sidecar/adapter_registry.h"

namespace brokerside::sidecar {

const adapter_descriptor& kafka_adapter();

}  // namespace brokerside::sidecar
