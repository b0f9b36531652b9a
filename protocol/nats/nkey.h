// NATS NKEY authentication, without I/O: a user's seed ("SU...", base32
// with a CRC-16) decoded, its public key ("U...") derived, and the server's
// nonce signed with it (Ed25519), as CONNECT's "nkey" and "sig" carry them.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

namespace brokerside::protocol::nats {

struct nkey_seed {
  std::array<std::uint8_t, 32> raw{};  // the Ed25519 private key's seed
};

// Decodes a user seed ("SU" + 56 more base32 letters). errc::malformed_frame
// when it is not base32, its checksum is wrong, or it is not a user's seed.
std::error_code decode_nkey_seed(std::string_view text, nkey_seed& out) noexcept;

// The user's public key, as the server's configuration names it ("U...").
std::string nkey_public_key(const nkey_seed& seed);

// The Ed25519 signature of `nonce`, base64url without padding; empty if the
// crypto library fails.
std::string nkey_sign(const nkey_seed& seed, std::string_view nonce);

}  // namespace brokerside::protocol::nats
