#include "sidecar/status.h"

#include <string>

#include "pool/errc.h"

namespace brokerside::sidecar {
namespace {

grpc::StatusCode code_for(pool::errc e) {
  using grpc::StatusCode;
  switch (e) {
    case pool::errc::unknown_target:
    case pool::errc::unknown_lease:
    case pool::errc::not_found_at_broker:
      return StatusCode::NOT_FOUND;
    case pool::errc::invalid_operation:
      return StatusCode::INVALID_ARGUMENT;
    case pool::errc::lease_expired:
    case pool::errc::needs_lease:
    case pool::errc::broker_refused:
      return StatusCode::FAILED_PRECONDITION;
    case pool::errc::adapter_not_implemented:
      return StatusCode::UNIMPLEMENTED;
    case pool::errc::pool_exhausted:
    case pool::errc::message_too_large:
      return StatusCode::RESOURCE_EXHAUSTED;
    case pool::errc::deadline_exceeded:
      return StatusCode::DEADLINE_EXCEEDED;
    case pool::errc::caller_gone:
      return StatusCode::CANCELLED;
    case pool::errc::unavailable:
    case pool::errc::circuit_open:
    case pool::errc::retry_budget_exhausted:
    case pool::errc::shutting_down:
      return StatusCode::UNAVAILABLE;
    case pool::errc::outcome_unknown:
      return StatusCode::ABORTED;
    case pool::errc::access_refused:
      return StatusCode::PERMISSION_DENIED;
    case pool::errc::remote_exception:
      return StatusCode::UNKNOWN;
  }
  return StatusCode::INTERNAL;
}

}  // namespace

grpc::Status to_status(std::error_code ec, std::string_view detail) {
  if (!ec) return grpc::Status::OK;
  std::string message = detail.empty() ? ec.message() : std::string(detail);
  if (ec.category() == pool::pool_category()) {
    return {code_for(static_cast<pool::errc>(ec.value())), std::move(message)};
  }
  return {grpc::StatusCode::INTERNAL, ec.category().name() + std::string(": ") + message};
}

}  // namespace brokerside::sidecar
