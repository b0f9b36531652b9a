// NKEY seeds, public keys and nonce signatures, checked against a pair made
// and a signature computed by the nkeys Python library (nats-io's).
#include "protocol/nats/nkey.h"

#include <gtest/gtest.h>

#include "protocol/errc.h"

namespace brokerside::protocol::nats {
namespace {

constexpr std::string_view seed_text = "SUAA6H7K5IEQVL6KRYF4YAE7B5SLAXLNLKHQLH7QCRHM462JDKSYNR6BJE";

TEST(nats_nkey, a_user_seed_gives_its_public_key_and_signs_a_nonce_as_nkeys_does) {
  nkey_seed seed;
  ASSERT_FALSE(decode_nkey_seed(seed_text, seed));
  EXPECT_EQ(nkey_public_key(seed), "UAEBCDXYFKBTWURF2A3PVR224OEXNZTCFC2F34VKTBU3B3QZOFIZQ7AZ");
  EXPECT_EQ(nkey_sign(seed, "hTZWUcHJbLPuakw"),
            "TXP7WjJUbgA5tX-lGsR8xrvUAW1VElnSxuC-3c3iKZdjTleS1o-Mj_IEgUvRh3ZYCAPV-EWVdLbI9QElZDw-"
            "Bg");
}

TEST(nats_nkey, what_is_not_a_user_seed_is_refused) {
  nkey_seed seed;
  std::string wrong_sum(seed_text);
  wrong_sum[10] = wrong_sum[10] == 'A' ? 'B' : 'A';
  for (const auto& text : std::vector<std::string>{
           "", "SU", std::string(seed_text.substr(0, 57)), std::string(seed_text) + "A",
           "suaa6h7k5ieqvl6kryf4yae7b5slaxlnlkhqlh7qcrhm462jdksynr6bje", wrong_sum,
           // a public key, not a seed
           "UAEBCDXYFKBTWURF2A3PVR224OEXNZTCFC2F34VKTBU3B3QZOFIZQ7AZ"}) {
    EXPECT_EQ(decode_nkey_seed(text, seed), errc::malformed_frame) << text;
  }
}

}  // namespace
}  // namespace brokerside::protocol::nats
