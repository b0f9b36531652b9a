#include "sidecar/probe.h"

#include <grpcpp/grpcpp.h>

#include <cstdio>

#include "grpc/health/v1/health.grpc.pb.h"

namespace brokerside::sidecar {

int probe(const std::string& address, const std::string& service) {
  auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  const auto status = stub->Check(&context, request, &response);
  const auto* what = service.empty() ? "brokerside" : service.c_str();
  if (!status.ok()) {
    std::fprintf(stderr, "%s at %s: %s\n", what, address.c_str(), status.error_message().c_str());
    return 1;
  }
  const auto name = grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
  std::printf("%s at %s: %s\n", what, address.c_str(), name.c_str());
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
}

}  // namespace brokerside::sidecar
