#include "pool/errc.h"

#include <string>

namespace brokerside::pool {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "brokerside.pool"; }

  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::unknown_target:
        return "unknown target";
      case errc::unknown_lease:
        return "unknown lease";
      case errc::lease_expired:
        return "lease expired";
      case errc::adapter_not_implemented:
        return "adapter not implemented";
      case errc::invalid_operation:
        return "operation not valid for this target";
      case errc::needs_lease:
        return "operation needs a lease";
      case errc::pool_exhausted:
        return "pool exhausted";
      case errc::message_too_large:
        return "message too large";
      case errc::deadline_exceeded:
        return "deadline exceeded";
      case errc::unavailable:
        return "broker unavailable";
      case errc::circuit_open:
        return "circuit breaker open";
      case errc::retry_budget_exhausted:
        return "retry budget exhausted";
      case errc::outcome_unknown:
        return "connection lost after the operation was written; outcome unknown";
      case errc::shutting_down:
        return "shutting down";
      case errc::broker_refused:
        return "broker refused the operation";
      case errc::access_refused:
        return "broker refused access";
      case errc::not_found_at_broker:
        return "not found at the broker";
      case errc::remote_exception:
        return "the peer answered with an exception";
      case errc::caller_gone:
        return "the caller went away";
    }
    return "unknown pool error " + std::to_string(value);
  }
};

}  // namespace

const std::error_category& pool_category() noexcept {
  static const category instance;
  return instance;
}

}  // namespace brokerside::pool
