#include "sidecar/cli.h"

#include <algorithm>
#include <string_view>

#include "sidecar/adapter_registry.h"

namespace brokerside::sidecar {
namespace {

struct alias {
  std::string_view flag;
  std::string_view path;
};

// Short names for the settings people set most; every other setting is
// reachable as --<dotted.path>=value.
constexpr alias aliases[] = {
    {"listen", "listen.grpc"},
    {"unix-socket", "listen.unix_socket"},
    {"admin", "listen.admin"},
    {"log-level", "log.level"},
    {"log-format", "log.format"},
    {"threads", "server.threads"},
    {"shutdown-grace", "server.shutdown_grace"},
};

}  // namespace

std::string usage(const adapter_registry& adapters) {
  // The scheme list, wrapped under its option's description.
  std::string schemes = "url schemes: " + adapters.scheme_list() + ")";
  std::string wrapped;
  while (!schemes.empty()) {
    const auto space = schemes.rfind(' ', 52);
    const auto cut = schemes.size() <= 52                       ? schemes.size()
                     : space == std::string::npos || space == 0 ? 52
                                                                : space + 1;
    wrapped += std::string(28, ' ') + schemes.substr(0, cut);
    while (!wrapped.empty() && wrapped.back() == ' ') wrapped.pop_back();
    wrapped += "\n";
    schemes.erase(0, cut);
  }
  return R"(usage: brokerside [options]
       brokerside stats [--address HOST:PORT] [--watch] [--json] ...  (stats --help)

brokerside serves pooled broker connections over gRPC (brokerside.v1.Broker).

  -c, --config FILE         YAML configuration (default: none, built-in defaults)
  --target NAME=URL         add a target, e.g. --target cache=redis://127.0.0.1:6379
                            (repeatable;
)" + wrapped +
         R"(  --listen HOST:PORT        gRPC listener (default 127.0.0.1:7300)
  --unix-socket PATH        also serve gRPC on a Unix socket
  --admin HOST:PORT         HTTP /healthz, /readyz, /metrics (default 127.0.0.1:7301; "" off)
  --log-level LEVEL         trace, debug, info, warn, error, off (default info)
  --log-format FORMAT       text or json (default text)
  --threads N               I/O threads (default: one per core)
  --shutdown-grace DURATION drain time after SIGTERM (default 10s)
  --SECTION.KEY=VALUE       any configuration setting, e.g.
                            --targets.cache.pool.max_connections=16
  --check-config            validate the configuration and exit (0 valid, 2 invalid)
  --probe[=HOST:PORT]       ask a running sidecar's gRPC health service; exit 0 if
                            SERVING (default address: the configured listener)
  --probe-service NAME      with --probe: check this target instead of the sidecar
  --probe-ca FILE           with --probe: speak TLS, verifying the server with this CA
  --probe-cert FILE         with --probe-ca: present this client certificate (mTLS)
  --probe-key FILE          with --probe-cert: its private key
  --probe-server-name NAME  with --probe-ca: the name to expect in the server's
                            certificate (default: the address's host)
  -h, --help                this text
  --version                 print the version
)";
}

cli_options parse_cli(int argc, const char* const* argv) {
  cli_options out;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      out.action = cli_action::help;
      continue;
    }
    if (arg == "-c") arg = "--config";
    if (arg.substr(0, 2) != "--" || arg.size() == 2) {
      // A stray URL may carry a password: it is not repeated.
      if (arg.find("://") != std::string_view::npos) {
        throw config_error("unexpected argument " + std::to_string(i) +
                           ", a URL (give it as --target NAME=URL; see --help)");
      }
      throw config_error("unexpected argument '" + std::string(arg) + "' (see --help)");
    }
    std::string name(arg.substr(2));
    std::optional<std::string> value;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    // Flags that take no value.
    if (name == "version" || name == "check-config" || name == "help") {
      if (value) throw config_error("--" + name + " takes no value");
      out.action = name == "version"        ? cli_action::version
                   : name == "check-config" ? cli_action::check_config
                                            : cli_action::help;
      continue;
    }
    if (name == "probe") {
      out.action = cli_action::probe;
      if (value) out.probe_address = *value;
      continue;
    }
    const bool known = name == "config" || name == "probe-service" || name == "target" ||
                       name == "probe-ca" || name == "probe-cert" || name == "probe-key" ||
                       name == "probe-server-name" || name.find('.') != std::string::npos ||
                       std::any_of(std::begin(aliases), std::end(aliases),
                                   [&](const alias& a) { return a.flag == name; });
    if (!known) throw config_error("unknown flag --" + name + " (see --help)");
    if (!value) {
      if (i + 1 >= argc) throw config_error("--" + name + " needs a value");
      value = argv[++i];
    }
    if (name == "config") {
      out.config_path = *value;
    } else if (name == "probe-service") {
      out.probe_service = *value;
    } else if (name == "probe-ca") {
      out.probe_tls.ca_file = *value;
    } else if (name == "probe-cert") {
      out.probe_tls.cert_file = *value;
    } else if (name == "probe-key") {
      out.probe_tls.key_file = *value;
    } else if (name == "probe-server-name") {
      out.probe_tls.server_name = *value;
    } else if (name == "target") {
      const auto eq = value->find('=');
      if (eq == std::string::npos || eq == 0) {
        throw config_error("--target: expected NAME=URL, e.g. cache=redis://127.0.0.1:6379");
      }
      if (value->substr(0, eq).find('.') != std::string::npos) {
        throw config_error("--target: target names are 1-64 of A-Z a-z 0-9 _ -");
      }
      out.overrides.push_back({"targets." + value->substr(0, eq) + ".url", value->substr(eq + 1),
                               /*literal=*/true});
    } else if (name.find('.') != std::string::npos) {
      out.overrides.push_back({name, *value});
    } else {
      for (const auto& a : aliases) {
        if (a.flag == name)
          out.overrides.push_back({std::string(a.path), *value, /*literal=*/true});
      }
    }
  }
  return out;
}

}  // namespace brokerside::sidecar
