#include "sidecar/probe.h"

#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <utility>

#include "grpc/health/v1/health.grpc.pb.h"

namespace brokerside::sidecar {

namespace {

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

}  // namespace

std::shared_ptr<grpc::Channel> sidecar_channel(const std::string& address,
                                               const probe_tls_settings& tls, std::string& error) {
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  grpc::ChannelArguments arguments;
  if (!tls.ca_file.empty()) {
    grpc::SslCredentialsOptions options;
    const std::pair<const std::string*, std::string*> files[] = {
        {&tls.ca_file, &options.pem_root_certs},
        {&tls.cert_file, &options.pem_cert_chain},
        {&tls.key_file, &options.pem_private_key}};
    for (const auto& [path, into] : files) {
      if (!path->empty() && !read_file(*path, *into)) {
        error = "cannot read " + *path;
        return nullptr;
      }
    }
    credentials = grpc::SslCredentials(options);
    if (!tls.server_name.empty()) arguments.SetSslTargetNameOverride(tls.server_name);
  }
  return grpc::CreateCustomChannel(address, credentials, arguments);
}

int probe(const std::string& address, const std::string& service, const probe_tls_settings& tls) {
  std::string error;
  auto channel = sidecar_channel(address, tls, error);
  if (!channel) {
    std::fprintf(stderr, "brokerside: --probe: %s\n", error.c_str());
    return 1;
  }
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
