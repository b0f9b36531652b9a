// Where a connection goes: a TCP host and port or a Unix socket path, plain
// or TLS. Plain data (no Asio), so settings and sans-io code can hold it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "protocol/tls.h"

namespace brokerside::protocol {

struct endpoint {
  std::string host;  // TCP host or address; empty when unix_path is set
  std::uint16_t port = 0;
  std::string unix_path;                   // Unix domain socket
  std::shared_ptr<const tls_context> tls;  // null: plain
  std::string server_name;                 // for TLS: empty means `host`
};

}  // namespace brokerside::protocol
