// The AMQP 0-9-1 adapter: pooled connections (over protocol::amqp::connection)
// with their channels — one in confirm mode for publishes, a few plain ones
// for topology commands, one for request/reply with direct reply-to — and the
// translation of Send and Recv to AMQP.
#pragma once

#include "sidecar/adapter_registry.h"

namespace brokerside::sidecar {

const adapter_descriptor& amqp_adapter();

}  // namespace brokerside::sidecar
