// A Redis target's own settings (targets.<name>.subscriber_connections),
// read by the Redis adapter's descriptor.
#pragma once

#include <cstdint>

#include "sidecar/target_settings.h"

namespace brokerside::sidecar {

struct redis_options final : adapter_options {
  // The most connections the target's Recv streams share for their
  // channels and patterns (each source subscribed once, on the least loaded).
  std::uint32_t subscriber_connections = 4;
};

}  // namespace brokerside::sidecar
