// The NATS adapter: pooled connections over protocol::nats::connection;
// Send{publish} as PUB / HPUB confirmed by a flush (or, on a JetStream
// target, by the stream's PubAck), Send{request} over the connection's
// inbox, Send{command} as a JetStream API call, Recv as core subscriptions
// or JetStream pull consumers on a dedicated connection.
#pragma once

#include "sidecar/adapter_registry.h"

namespace brokerside::sidecar {

const adapter_descriptor& nats_adapter();

}  // namespace brokerside::sidecar
