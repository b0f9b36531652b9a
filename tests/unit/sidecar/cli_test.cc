#include "sidecar/cli.h"

#include <gtest/gtest.h>

#include <vector>

namespace brokerside::sidecar {
namespace {

cli_options parse(std::vector<const char*> args) {
  args.insert(args.begin(), "brokerside");
  return parse_cli(static_cast<int>(args.size()), args.data());
}

std::string error_of(std::vector<const char*> args) {
  try {
    parse(std::move(args));
  } catch (const config_error& e) {
    return e.what();
  }
  return "no error";
}

TEST(cli, no_arguments_serves_defaults) {
  const auto o = parse({});
  EXPECT_EQ(o.action, cli_action::serve);
  EXPECT_TRUE(o.config_path.empty());
  EXPECT_TRUE(o.overrides.empty());
}

TEST(cli, actions) {
  EXPECT_EQ(parse({"--help"}).action, cli_action::help);
  EXPECT_EQ(parse({"-h"}).action, cli_action::help);
  EXPECT_EQ(parse({"--version"}).action, cli_action::version);
  EXPECT_EQ(parse({"--check-config"}).action, cli_action::check_config);
  const auto probe = parse({"--probe=127.0.0.1:9", "--probe-service", "cache"});
  EXPECT_EQ(probe.action, cli_action::probe);
  EXPECT_EQ(probe.probe_address, "127.0.0.1:9");
  EXPECT_EQ(probe.probe_service, "cache");
}

TEST(cli, config_file_in_both_spellings) {
  EXPECT_EQ(parse({"-c", "a.yaml"}).config_path, "a.yaml");
  EXPECT_EQ(parse({"--config", "b.yaml"}).config_path, "b.yaml");
  EXPECT_EQ(parse({"--config=c.yaml"}).config_path, "c.yaml");
}

TEST(cli, targets_become_literal_url_overrides) {
  const auto o = parse({"--target", "cache=redis://h:1/0?x=1", "--target=q=amqp://h"});
  ASSERT_EQ(o.overrides.size(), 2u);
  EXPECT_EQ(o.overrides[0].path, "targets.cache.url");
  EXPECT_EQ(o.overrides[0].value, "redis://h:1/0?x=1");
  EXPECT_TRUE(o.overrides[0].literal);
  EXPECT_EQ(o.overrides[1].path, "targets.q.url");
}

TEST(cli, dotted_flags_and_aliases) {
  const auto o = parse({"--targets.cache.pool.max_connections=16", "--listen", "0.0.0.0:1",
                        "--log-level=debug", "--admin="});
  ASSERT_EQ(o.overrides.size(), 4u);
  EXPECT_EQ(o.overrides[0].path, "targets.cache.pool.max_connections");
  EXPECT_EQ(o.overrides[0].value, "16");
  EXPECT_FALSE(o.overrides[0].literal);
  EXPECT_EQ(o.overrides[1].path, "listen.grpc");
  EXPECT_EQ(o.overrides[1].value, "0.0.0.0:1");
  EXPECT_EQ(o.overrides[2].path, "log.level");
  EXPECT_EQ(o.overrides[3].path, "listen.admin");
  EXPECT_EQ(o.overrides[3].value, "");
}

TEST(cli, bad_usage_is_one_clear_line) {
  EXPECT_EQ(error_of({"--bogus"}), "unknown flag --bogus (see --help)");
  EXPECT_EQ(error_of({"--bogus=1"}), "unknown flag --bogus (see --help)");
  EXPECT_EQ(error_of({"stray"}), "unexpected argument 'stray' (see --help)");
  EXPECT_EQ(error_of({"--"}), "unexpected argument '--' (see --help)");
  EXPECT_EQ(error_of({"redis://:s3cret@h:6379"}),
            "unexpected argument 1, a URL (give it as --target NAME=URL; see --help)");
  EXPECT_EQ(error_of({"--config"}), "--config needs a value");
  EXPECT_EQ(error_of({"--version=2"}), "--version takes no value");
  EXPECT_EQ(error_of({"--target", "cache"}),
            "--target: expected NAME=URL, e.g. cache=redis://127.0.0.1:6379");
  EXPECT_EQ(error_of({"--target", "=redis://h"}),
            "--target: expected NAME=URL, e.g. cache=redis://127.0.0.1:6379");
  EXPECT_EQ(error_of({"--target", "a.b=redis://h"}),
            "--target: target names are 1-64 of A-Z a-z 0-9 _ -");
}

}  // namespace
}  // namespace brokerside::sidecar
