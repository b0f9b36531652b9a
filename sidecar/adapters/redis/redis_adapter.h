// The Redis adapter: pooled connections over protocol::redis::connection,
// Send{command, publish} as a Redis argv and its reply as a v1::Value, Recv
// as pub/sub on a dedicated connection.
#pragma once

#include "sidecar/adapter_registry.h"

namespace brokerside::sidecar {

const adapter_descriptor& redis_adapter();

}  // namespace brokerside::sidecar
