// Parsing of the human units used in configuration: durations ("250ms",
// "5s", "2m", "1h") and byte sizes ("4MiB", "512KiB", "1048576").
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace brokerside::sidecar {

// A non-negative duration with a unit (ms, s, m, h; fractions allowed, e.g.
// "1.5s"), or "0". nullopt if malformed.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) noexcept;

// A byte count, plain or with a unit (B, KiB, MiB, GiB, KB, MB, GB).
std::optional<std::uint64_t> parse_size(std::string_view text) noexcept;

}  // namespace brokerside::sidecar
