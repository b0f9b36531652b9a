// `brokerside --probe`: asks a running sidecar's gRPC health service whether
// it is SERVING, for container HEALTHCHECKs and exec probes.
#pragma once

#include <string>

namespace brokerside::sidecar {

// Checks `service` ("" for the sidecar itself, or a target name) at
// `address` (host:port or unix:/path). Prints the status; returns the exit
// code: 0 SERVING, 1 anything else.
int probe(const std::string& address, const std::string& service);

}  // namespace brokerside::sidecar
