// The broker protocols brokerside speaks, the URL schemes that select each,
// and whether this build implements it.
#pragma once

#include <optional>
#include <string_view>

namespace brokerside::protocol {

enum class adapter_kind { redis, amqp, nats, kafka, framed };

// The adapter's name as used in configuration, Stats and error messages.
std::string_view name(adapter_kind kind) noexcept;

// The adapter a URL scheme selects ("rediss" -> redis, "framed+unix" ->
// framed), or nullopt for a scheme no adapter claims.
std::optional<adapter_kind> adapter_for_scheme(std::string_view scheme) noexcept;

// The schemes adapter_for_scheme() accepts, comma-separated, for error
// messages.
std::string_view known_schemes() noexcept;

// Whether this build has a working adapter for the kind. Operations on a
// target whose adapter is missing fail with UNIMPLEMENTED naming it.
bool implemented(adapter_kind kind) noexcept;

// Whether the scheme asks for TLS (rediss, amqps, tls).
bool scheme_uses_tls(std::string_view scheme) noexcept;

// Whether the scheme addresses a Unix domain socket path rather than a host.
bool scheme_uses_unix_socket(std::string_view scheme) noexcept;

}  // namespace brokerside::protocol
