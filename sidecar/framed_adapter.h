// The framed adapter as the sidecar uses it: pooled aiomas-style channels
// (protocol::framed::connection) and Send{request} as a channel request
// whose result (or remote exception) is the call's outcome; Recv delivers
// the requests the peers initiate, answered by Reply.
#pragma once

#include "sidecar/operation_adapter.h"

namespace brokerside::sidecar {

// `executor` runs what the target does beside its pool: routing the
// requests its peers initiate to Recv streams, and accepting its peers'
// clients when it has a listen URL.
adapter_binding make_framed_adapter(const pool::target_config& target,
                                    boost::asio::any_io_executor executor);

}  // namespace brokerside::sidecar
