// The AMQP 0-9-1 adapter as the sidecar uses it: pooled connections (over
// protocol::amqp::connection) with their channels — one in confirm mode for
// publishes, a few plain ones for topology commands, one for request/reply
// with direct reply-to — and the translation of Send and Recv to AMQP.
#pragma once

#include "sidecar/operation_adapter.h"

namespace brokerside::sidecar {

adapter_binding make_amqp_adapter(const pool::target_config& target);

}  // namespace brokerside::sidecar
