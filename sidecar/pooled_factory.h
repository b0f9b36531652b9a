// What every adapter's pooled connection needs the same way: the factory
// that makes `Connection`s (a pool::connection constructed from an executor
// and the target's settings, which they share) and says how many operations
// one carries; and where a URL of the target leads.
#pragma once

#include <cstdint>
#include <memory>

#include "pool/connection.h"
#include "pool/errc.h"
#include "protocol/errc.h"
#include "protocol/stream.h"
#include "sidecar/target_settings.h"

namespace brokerside::sidecar {

// The socket `url` names (its scheme's default port when it gives none),
// under the target's TLS context when its scheme is a TLS one.
inline protocol::endpoint endpoint_for(const pool::broker_url& url, const target_settings& target) {
  protocol::endpoint to;
  to.host = url.host;
  to.port = url.port != 0 ? url.port : url.default_port;
  to.unix_path = url.unix_path;
  if (url.tls) {
    to.tls = target.tls_context;
    to.server_name = target.tls.server_name;
  }
  return to;
}

// What a pooled connection's connect completes with when the protocol's
// connect failed with `ec`: a refused login as pool::errc::access_refused
// (the pool fails its waiters with it at once, rather than retrying),
// anything else as it is.
inline std::error_code connect_error(std::error_code ec) {
  if (ec == protocol::errc::access_refused) return make_error_code(pool::errc::access_refused);
  return ec;
}

template <typename Connection>
class pooled_factory final : public pool::connection_factory {
 public:
  pooled_factory(const target_settings& target, std::uint32_t per_connection_cap)
      : target_(std::make_shared<const target_settings>(target)), cap_(per_connection_cap) {}

  std::unique_ptr<pool::connection> make(boost::asio::any_io_executor executor) override {
    return std::make_unique<Connection>(std::move(executor), target_);
  }

  std::uint32_t per_connection_cap() const override { return cap_; }

 private:
  std::shared_ptr<const target_settings> target_;  // shared with its connections
  std::uint32_t cap_;
};

}  // namespace brokerside::sidecar
