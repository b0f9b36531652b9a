// The connection factory each adapter needs: it makes `Connection`s (a
// pool::connection constructed from an executor and the target's
// configuration, which they share) and says how many operations one carries.
#pragma once

#include <cstdint>
#include <memory>

#include "pool/connection.h"
#include "pool/settings.h"

namespace brokerside::sidecar {

template <typename Connection>
class pooled_factory final : public pool::connection_factory {
 public:
  pooled_factory(const pool::target_config& target, std::uint32_t per_connection_cap)
      : target_(std::make_shared<const pool::target_config>(target)), cap_(per_connection_cap) {}

  std::unique_ptr<pool::connection> make(boost::asio::any_io_executor executor) override {
    return std::make_unique<Connection>(std::move(executor), target_);
  }

  std::uint32_t per_connection_cap() const override { return cap_; }

 private:
  std::shared_ptr<const pool::target_config> target_;  // shared with its connections
  std::uint32_t cap_;
};

}  // namespace brokerside::sidecar
