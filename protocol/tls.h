// TLS settings of a broker connection, and the client context built from
// them once per target (kept apart from stream.h so that settings structs
// can hold them without pulling in Asio or OpenSSL).
#pragma once

#include <memory>
#include <string>

namespace brokerside::protocol {

struct tls_options {
  std::string ca_file;      // PEM trust anchors; empty: the system's default store
  std::string cert_file;    // PEM client certificate (mutual TLS); empty: none
  std::string key_file;     // its private key; required with cert_file
  std::string server_name;  // SNI and the name verified; empty: the host connected to
  bool verify = true;       // false: any certificate is accepted (never in production)
};

// A TLS client context built once per target and shared by its connections
// (loading trust anchors per connect would cost a file read each time).
class tls_context;

// Builds the context for `options`; on failure returns null and sets `error`
// to a short reason naming the file that could not be used.
std::shared_ptr<const tls_context> make_tls_context(const tls_options& options, std::string& error);

}  // namespace brokerside::protocol
