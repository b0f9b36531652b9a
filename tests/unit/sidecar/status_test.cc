#include "sidecar/status.h"

#include <gtest/gtest.h>

#include "pool/errc.h"

namespace brokerside::sidecar {
namespace {

using grpc::StatusCode;

TEST(status, ok_for_no_error) { EXPECT_TRUE(to_status(std::error_code{}).ok()); }

// The status-code contract of brokerside.proto, one pool error at a time.
TEST(status, pool_errors_follow_the_contract) {
  const std::pair<pool::errc, StatusCode> contract[] = {
      {pool::errc::unknown_target, StatusCode::NOT_FOUND},
      {pool::errc::unknown_lease, StatusCode::NOT_FOUND},
      {pool::errc::not_found_at_broker, StatusCode::NOT_FOUND},
      {pool::errc::invalid_operation, StatusCode::INVALID_ARGUMENT},
      {pool::errc::lease_expired, StatusCode::FAILED_PRECONDITION},
      {pool::errc::needs_lease, StatusCode::FAILED_PRECONDITION},
      {pool::errc::broker_refused, StatusCode::FAILED_PRECONDITION},
      {pool::errc::adapter_not_implemented, StatusCode::UNIMPLEMENTED},
      {pool::errc::pool_exhausted, StatusCode::RESOURCE_EXHAUSTED},
      {pool::errc::message_too_large, StatusCode::RESOURCE_EXHAUSTED},
      {pool::errc::deadline_exceeded, StatusCode::DEADLINE_EXCEEDED},
      {pool::errc::unavailable, StatusCode::UNAVAILABLE},
      {pool::errc::circuit_open, StatusCode::UNAVAILABLE},
      {pool::errc::retry_budget_exhausted, StatusCode::UNAVAILABLE},
      {pool::errc::shutting_down, StatusCode::UNAVAILABLE},
      {pool::errc::outcome_unknown, StatusCode::ABORTED},
      {pool::errc::access_refused, StatusCode::PERMISSION_DENIED},
  };
  for (const auto& [error, code] : contract) {
    const auto status = to_status(error);
    EXPECT_EQ(status.error_code(), code) << std::error_code(error).message();
    EXPECT_EQ(status.error_message(), std::error_code(error).message());
  }
}

TEST(status, detail_replaces_the_generic_message) {
  const auto status = to_status(pool::errc::unknown_target, "unknown target 'x'");
  EXPECT_EQ(status.error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "unknown target 'x'");
}

TEST(status, foreign_errors_are_internal_and_named) {
  const auto status = to_status(std::make_error_code(std::errc::connection_reset));
  EXPECT_EQ(status.error_code(), StatusCode::INTERNAL);
  EXPECT_EQ(status.error_message().rfind("generic: ", 0), 0u) << status.error_message();
}

}  // namespace
}  // namespace brokerside::sidecar
