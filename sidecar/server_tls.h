// TLS on the gRPC TCP listener: the server's certificate and key, and a
// client CA that makes it mutual (mTLS). The files are watched and a
// rotation (Kubernetes updates mounted Secrets in place) is taken up by new
// connections without a restart; open ones keep theirs.
#pragma once

#include <chrono>
#include <memory>
#include <string>

namespace grpc {
class ServerCredentials;
}

namespace brokerside::sidecar {

struct server_tls_settings {
  std::string cert_file;       // PEM chain; empty: no TLS (plaintext TCP)
  std::string key_file;        // PEM private key of its first certificate
  std::string client_ca_file;  // set: clients must present a certificate it signed
  std::chrono::milliseconds reload_interval{10'000};  // how often the files are read again

  bool enabled() const noexcept { return !cert_file.empty(); }
};

// Why these files cannot serve (one line naming the setting and the
// reason), or empty: readable, PEM, the key matching the certificate.
std::string check_server_tls(const server_tls_settings& tls, const std::string& path);

// The listener's credentials: TLS from watched files if enabled, else
// insecure.
std::shared_ptr<grpc::ServerCredentials> server_credentials(const server_tls_settings& tls);

}  // namespace brokerside::sidecar
