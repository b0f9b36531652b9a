// The adapters of this build: one line each. Adding an adapter is its
// folders (protocol/<name>/, sidecar/adapters/<name>/), an add_subdirectory
// in each floor's CMakeLists.txt, and its line here (README: Adding an
// adapter).
#include "sidecar/adapter_registry.h"
#include "sidecar/adapters/amqp/amqp_adapter.h"
#include "sidecar/adapters/framed/framed_adapter.h"
#include "sidecar/adapters/kafka/kafka_adapter.h"
#include "sidecar/adapters/nats/nats_adapter.h"
#include "sidecar/adapters/redis/redis_adapter.h"

namespace brokerside::sidecar {

const adapter_registry& builtin_adapters() {
  static const adapter_registry registry({
      &redis_adapter(),
      &amqp_adapter(),
      &nats_adapter(),
      &kafka_adapter(),
      &framed_adapter(),
  });
  return registry;
}

}  // namespace brokerside::sidecar
