// The tokens file and caller patterns, without a server.
#include "sidecar/caller_auth.h"

#include <gtest/gtest.h>

namespace brokerside::sidecar {
namespace {

// sha256("s3cret") and sha256("other").
constexpr const char* s3cret =
    "sha256:1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0";
constexpr const char* other =
    "sha256:d9298a10d1b0735837dc4bd85dac641b0f3cef27a47e5d53a54f2f3f5b2fcffa";

TEST(caller_auth, a_tokens_file_has_names_and_hashes_comments_and_blank_lines) {
  std::vector<token_entry> tokens;
  const auto text = std::string("# who may call\n\napp ") + s3cret + "\r\n  ops\t" + other + "  \n";
  ASSERT_EQ(parse_tokens(text, tokens), "");
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_EQ(tokens[0].name, "app");
  EXPECT_EQ(tokens[0].hash[0], 0x1e);
  EXPECT_EQ(tokens[0].hash[31], 0xa0);
  EXPECT_EQ(tokens[1].name, "ops");
}

TEST(caller_auth, a_bad_line_is_named_by_number_never_quoted) {
  std::vector<token_entry> tokens;
  EXPECT_EQ(parse_tokens("app\n", tokens), "line 1: expected NAME sha256:HEX");
  EXPECT_EQ(
      parse_tokens("# c\napp s3cret-in-clear\n", tokens),
      "line 2: expected sha256: and 64 hex digits (the SHA-256 of the token, never the token)");
  EXPECT_EQ(parse_tokens(std::string("app sha256:") + std::string(64, 'g') + "\n", tokens),
            "line 1: expected sha256: and 64 hex digits");
  EXPECT_EQ(parse_tokens(std::string("a/b ") + s3cret, tokens),
            "line 1: a name is 1-64 of A-Z a-z 0-9 _ . -");
  EXPECT_EQ(parse_tokens(std::string("app ") + s3cret + "\napp " + other, tokens),
            "line 2: the name 'app' comes twice");
  EXPECT_EQ(parse_tokens("", tokens), "");
  EXPECT_TRUE(tokens.empty());
}

TEST(caller_auth, patterns_are_exact_or_a_prefix_before_a_trailing_star) {
  EXPECT_TRUE(identity_matches("token:app", "token:app"));
  EXPECT_FALSE(identity_matches("token:app", "token:apps"));
  EXPECT_FALSE(identity_matches("token:app", ""));
  EXPECT_TRUE(
      identity_matches("spiffe://cluster/ns/orders/*", "spiffe://cluster/ns/orders/sa/app"));
  EXPECT_FALSE(
      identity_matches("spiffe://cluster/ns/orders/*", "spiffe://cluster/ns/billing/sa/app"));
  EXPECT_TRUE(identity_matches("*", "anyone"));
  EXPECT_TRUE(identity_matches("*", ""));
  EXPECT_FALSE(identity_matches("", "anyone"));
}

}  // namespace
}  // namespace brokerside::sidecar
