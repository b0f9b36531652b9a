// Parsing of the human units used in configuration: durations ("250ms",
// "5s", "2m", "1h"), byte sizes ("4MiB", "512KiB", "1048576") and listener
// addresses ("127.0.0.1:7300", "[::1]:7300").
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace brokerside::sidecar {

// A non-negative duration with a unit (ms, s, m, h; fractions allowed, e.g.
// "1.5s"), or "0". nullopt if malformed.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) noexcept;

// A byte count, plain or with a unit (B, KiB, MiB, GiB, KB, MB, GB).
std::optional<std::uint64_t> parse_size(std::string_view text) noexcept;

struct host_port {
  std::string host;  // IPv6 without its brackets
  std::string port;  // decimal, 0-65535 (0: any free port)
};

// "host:port" with a numeric port; nullopt if it is not.
std::optional<host_port> parse_host_port(std::string_view text);

}  // namespace brokerside::sidecar
