// A failure to start, as one line naming the setting ("listen.grpc: ...").
#pragma once

#include <stdexcept>

namespace brokerside::sidecar {

class startup_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace brokerside::sidecar
