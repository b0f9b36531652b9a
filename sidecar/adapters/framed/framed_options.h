// A framed target's own settings (targets.<name>.listen, reply_timeout),
// read by the framed adapter's descriptor.
#pragma once

#include <chrono>
#include <optional>

#include "pool/broker_url.h"
#include "sidecar/target_settings.h"

namespace brokerside::sidecar {

struct framed_options final : adapter_options {
  // Where the peer's own clients may connect to us (framed:// or
  // framed+unix://); their requests go to the target's Recv streams.
  std::optional<pool::broker_url> listen;
  // How long a request the peer initiates waits for the app's answer before
  // the peer is answered with a timeout exception.
  std::chrono::milliseconds reply_timeout{30'000};
};

}  // namespace brokerside::sidecar
