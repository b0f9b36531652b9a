// `brokerside --probe`: asks a running sidecar's gRPC health service whether
// it is SERVING, for container HEALTHCHECKs and exec probes.
#pragma once

#include <memory>
#include <string>

namespace grpc {
class Channel;
}

namespace brokerside::sidecar {

// TLS for the probe, for a listener with listen.tls: set ca_file to speak
// it; cert_file and key_file for mutual TLS.
struct probe_tls_settings {
  std::string ca_file;      // verify the server with this CA; empty: plaintext
  std::string cert_file;    // the client certificate, if the server asks for one
  std::string key_file;     // its key
  std::string server_name;  // expected in the server's certificate; empty: the host
};

// A channel to the sidecar at `address`, over TLS if `tls` says so; null,
// with `error` naming the file, when one of its files cannot be read.
std::shared_ptr<grpc::Channel> sidecar_channel(const std::string& address,
                                               const probe_tls_settings& tls, std::string& error);

// Checks `service` ("" for the sidecar itself, or a target name) at
// `address` (host:port or unix:/path). Prints the status; returns the exit
// code: 0 SERVING, 1 anything else (a file of `tls` that cannot be read
// included).
int probe(const std::string& address, const std::string& service,
          const probe_tls_settings& tls = {});

}  // namespace brokerside::sidecar
