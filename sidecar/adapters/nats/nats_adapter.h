// The NATS adapter: pooled connections over protocol::nats::connection;
// Send{publish} as PUB / HPUB confirmed by a flush, Send{request} over the
// connection's inbox, Recv as core subscriptions on a dedicated connection.
// JetStream and commands are not built yet (the README status table).
#pragma once

#include "sidecar/adapter_registry.h"

namespace brokerside::sidecar {

const adapter_descriptor& nats_adapter();

}  // namespace brokerside::sidecar
