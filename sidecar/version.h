// The build's version, shown by --version, Stats and /metrics.
#pragma once

namespace brokerside::sidecar {

inline constexpr const char* version = BROKERSIDE_VERSION;

}  // namespace brokerside::sidecar
