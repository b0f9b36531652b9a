// grpc.reflection.v1alpha.ServerReflection on the async API (gRPC 1.51's own
// is a sync service, whose threads would poll gRPC beside the grpc_loop), as
// the method gRPC's generic service hands over; every other method that no
// service registered is answered UNIMPLEMENTED here too. The messages are read
// and made through the descriptors libgrpc++_reflection registers.
#pragma once

#include <grpcpp/generic/async_generic_service.h>

#include <string>
#include <vector>

#include "sidecar/async_calls.h"

namespace brokerside::sidecar {

class reflection_service {
 public:
  // `services`: the full names ListServices answers. Throws
  // std::runtime_error if the reflection messages' descriptors are missing.
  explicit reflection_service(std::vector<std::string> services);

  // The reactor for a call of `context->method()`.
  stream_reactor<grpc::ByteBuffer, grpc::ByteBuffer>* open(grpc::GenericServerContext* context);

  // The response (serialized) to one serialized ServerReflectionRequest;
  // false if it cannot be parsed.
  bool answer(const std::string& request, std::string& response) const;

 private:
  class info_reactor;

  std::vector<std::string> services_;  // what ListServices answers
};

}  // namespace brokerside::sidecar
