#include "protocol/nats/nkey.h"

#include <openssl/evp.h>

#include <memory>
#include <vector>

#include "protocol/errc.h"

namespace brokerside::protocol::nats {
namespace {

constexpr std::uint8_t prefix_seed = 18 << 3;  // 'S'
constexpr std::uint8_t prefix_user = 20 << 3;  // 'U'
constexpr std::string_view base32_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

// CRC-16/XMODEM, as the NKEY encoding checks it.
std::uint16_t crc16(const std::uint8_t* data, std::size_t size) noexcept {
  std::uint16_t crc = 0;
  for (std::size_t i = 0; i < size; ++i) {
    crc ^= static_cast<std::uint16_t>(data[i] << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) != 0 ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021)
                                : static_cast<std::uint16_t>(crc << 1);
    }
  }
  return crc;
}

std::string base32(const std::vector<std::uint8_t>& in) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const auto byte : in) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += base32_alphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += base32_alphabet[(buffer << (5 - bits)) & 31];
  return out;
}

bool unbase32(std::string_view in, std::vector<std::uint8_t>& out) noexcept {
  std::uint32_t buffer = 0;
  int bits = 0;
  for (const char c : in) {
    const auto value = base32_alphabet.find(c);
    if (value == std::string_view::npos) return false;
    buffer = (buffer << 5) | static_cast<std::uint32_t>(value);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<std::uint8_t>(buffer >> (bits - 8)));
      bits -= 8;
    }
  }
  return true;
}

std::string base64url(const std::uint8_t* data, std::size_t size) {
  static constexpr std::string_view alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (std::size_t i = 0; i < size; ++i) {
    buffer = (buffer << 8) | data[i];
    bits += 8;
    while (bits >= 6) {
      out += alphabet[(buffer >> (bits - 6)) & 63];
      bits -= 6;
    }
  }
  if (bits > 0) out += alphabet[(buffer << (6 - bits)) & 63];
  return out;
}

struct pkey_free {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

pkey_ptr private_key(const nkey_seed& seed) {
  return pkey_ptr(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.raw.data(), seed.raw.size()));
}

}  // namespace

std::error_code decode_nkey_seed(std::string_view text, nkey_seed& out) noexcept {
  // 36 bytes (two of prefix, the seed, the checksum) in 58 letters.
  std::vector<std::uint8_t> raw;
  if (text.size() != 58 || !unbase32(text, raw) || raw.size() != 36) return errc::malformed_frame;
  const auto sum = static_cast<std::uint16_t>(raw[34] | (raw[35] << 8));  // little-endian
  if (crc16(raw.data(), 34) != sum) return errc::malformed_frame;
  // The first 5 bits say "seed", the next 5 whose key: a user's.
  const auto kind = static_cast<std::uint8_t>(((raw[0] & 7) << 5) | ((raw[1] & 0xf8) >> 3));
  if ((raw[0] & 0xf8) != prefix_seed || kind != prefix_user) return errc::malformed_frame;
  std::copy(raw.begin() + 2, raw.begin() + 34, out.raw.begin());
  return {};
}

std::string nkey_public_key(const nkey_seed& seed) {
  const auto key = private_key(seed);
  std::array<std::uint8_t, 32> pub{};
  std::size_t size = pub.size();
  if (!key || EVP_PKEY_get_raw_public_key(key.get(), pub.data(), &size) != 1) return {};
  std::vector<std::uint8_t> raw{prefix_user};
  raw.insert(raw.end(), pub.begin(), pub.end());
  const auto sum = crc16(raw.data(), raw.size());
  raw.push_back(static_cast<std::uint8_t>(sum & 0xff));
  raw.push_back(static_cast<std::uint8_t>(sum >> 8));
  return base32(raw);
}

std::string nkey_sign(const nkey_seed& seed, std::string_view nonce) {
  const auto key = private_key(seed);
  if (!key) return {};
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::array<std::uint8_t, 64> signature{};
  std::size_t size = signature.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), signature.data(), &size,
                     reinterpret_cast<const unsigned char*>(nonce.data()), nonce.size()) != 1) {
    return {};
  }
  return base64url(signature.data(), size);
}

}  // namespace brokerside::protocol::nats
