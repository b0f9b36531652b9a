// The framed adapter as the sidecar uses it: pooled aiomas-style channels
// (protocol::framed::connection) and Send{request} as a channel request
// whose result (or remote exception) is the call's outcome.
#pragma once

#include "sidecar/operation_adapter.h"

namespace brokerside::sidecar {

adapter_binding make_framed_adapter(const pool::target_config& target);

}  // namespace brokerside::sidecar
