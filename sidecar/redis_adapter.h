// The Redis adapter as the sidecar uses it: pooled connections (over
// protocol::redis::connection) and the translation of Send{command} into a
// Redis argv and of the reply into a v1::Value.
#pragma once

#include "sidecar/operation_adapter.h"

namespace brokerside::sidecar {

adapter_binding make_redis_adapter(const pool::target_config& target);

}  // namespace brokerside::sidecar
