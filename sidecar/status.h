// The one place where errors of the lower layers become gRPC statuses, so the
// status-code contract of brokerside.proto is kept in one function.
#pragma once

#include <grpcpp/support/status.h>

#include <string_view>
#include <system_error>

namespace brokerside::sidecar {

// The gRPC status for `ec`. The message is `detail` if given (the target, the
// broker's own code and text), else the error's own message. `ec` false: OK.
grpc::Status to_status(std::error_code ec, std::string_view detail = {});

}  // namespace brokerside::sidecar
