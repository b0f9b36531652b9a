// Logging setup: spdlog to stderr, as text or one JSON object per line, with
// gRPC's own log routed into the same logger.
#pragma once

#include "sidecar/config.h"

namespace brokerside::sidecar {

// Installs the default logger. Safe to call again (the last call wins).
void setup_logging(const log_settings& settings);

}  // namespace brokerside::sidecar
