// The command line: what to do (serve, check the configuration, probe a
// running sidecar) and the settings that override the configuration file.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "sidecar/config.h"
#include "sidecar/probe.h"

namespace brokerside::sidecar {

enum class cli_action { serve, check_config, probe, help, version };

struct cli_options {
  cli_action action = cli_action::serve;
  std::string config_path;                  // --config; empty: built-in defaults
  std::vector<setting_override> overrides;  // --a.b.c=value, --target, --listen, ...
  std::string probe_address;                // --probe[=host:port]
  std::string probe_service;                // --probe-service: health service name
  probe_tls_settings probe_tls;             // --probe-ca, --probe-cert, --probe-key, ...
};

// Parses argv. Throws config_error naming the flag on bad usage.
cli_options parse_cli(int argc, const char* const* argv);

// The --help text.
class adapter_registry;

// --help, with the schemes of `adapters`.
std::string usage(const adapter_registry& adapters);

}  // namespace brokerside::sidecar
