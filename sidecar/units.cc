#include "sidecar/units.h"

#include <array>
#include <charconv>
#include <cmath>
#include <utility>

namespace brokerside::sidecar {
namespace {

// Splits "12.5ms" into 12.5 and "ms"; nullopt if there is no leading number.
std::optional<std::pair<double, std::string_view>> split_number(std::string_view text) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || !std::isfinite(value) || value < 0) return std::nullopt;
  return std::pair{value, text.substr(static_cast<std::size_t>(end - text.data()))};
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) noexcept {
  const auto parts = split_number(text);
  if (!parts) return std::nullopt;
  const auto [value, unit] = *parts;
  double ms = 0;
  if (unit == "ms") {
    ms = value;
  } else if (unit == "s") {
    ms = value * 1e3;
  } else if (unit == "m") {
    ms = value * 60e3;
  } else if (unit == "h") {
    ms = value * 3600e3;
  } else if (unit.empty() && value == 0) {
    ms = 0;
  } else {
    return std::nullopt;
  }
  if (ms > 1e15 || ms != std::floor(ms)) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

std::optional<std::uint64_t> parse_size(std::string_view text) noexcept {
  const auto parts = split_number(text);
  if (!parts) return std::nullopt;
  const auto [value, unit] = *parts;
  constexpr std::array<std::pair<std::string_view, double>, 8> units{{
      {"", 1},
      {"B", 1},
      {"KiB", 1024.0},
      {"MiB", 1024.0 * 1024},
      {"GiB", 1024.0 * 1024 * 1024},
      {"KB", 1e3},
      {"MB", 1e6},
      {"GB", 1e9},
  }};
  for (const auto& [name, scale] : units) {
    if (unit != name) continue;
    const double bytes = value * scale;
    if (bytes > 1e18 || bytes != std::floor(bytes)) return std::nullopt;
    return static_cast<std::uint64_t>(bytes);
  }
  return std::nullopt;
}

std::optional<host_port> parse_host_port(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  auto host = text.substr(0, colon);
  const auto port = text.substr(colon + 1);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value > 65535) {
    return std::nullopt;
  }
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host_port{std::string(host), std::string(port)};
}

}  // namespace brokerside::sidecar
