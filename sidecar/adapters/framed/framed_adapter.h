// The framed adapter: pooled aiomas-style channels (protocol::framed::
// connection) and Send{request} as a channel request whose result (or remote
// exception) is the call's outcome; Recv delivers the requests the peers
// initiate, answered by Reply. Its own options: `listen` (where the peer's
// clients may connect to us) and `reply_timeout`.
#pragma once

#include "sidecar/adapter_registry.h"

namespace brokerside::sidecar {

const adapter_descriptor& framed_adapter();

}  // namespace brokerside::sidecar
