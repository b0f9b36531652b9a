// TLS on the gRPC TCP listener: the server's certificate and key, and a
// client CA that makes it mutual (mTLS); their checks. (The files are
// watched by sidecar/server_tls_files.h.)
#pragma once

#include <chrono>
#include <optional>
#include <string>

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

// The whole of a certificate or key file, or nullopt (errno says why).
std::optional<std::string> read_pem_file(const std::string& file);

// Why PEM texts cannot serve as the listener's certificate chain, key and
// client CA (empty: none), as "cert_file: reason", or empty if they can.
std::string check_server_tls_pem(const std::string& chain, const std::string& key,
                                 const std::string& ca);

}  // namespace brokerside::sidecar
