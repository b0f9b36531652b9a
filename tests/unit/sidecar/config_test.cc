#include "sidecar/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "sidecar/adapter_registry.h"
#include "sidecar/adapters/amqp/amqp_options.h"
#include "sidecar/adapters/framed/framed_options.h"
#include "sidecar/adapters/redis/redis_options.h"

namespace brokerside::sidecar {
namespace {

using std::chrono::milliseconds;

std::string error_of(std::string_view yaml, const std::vector<setting_override>& overrides = {}) {
  try {
    load_config(yaml, overrides);
  } catch (const config_error& e) {
    return e.what();
  }
  return "no error";
}

TEST(config, empty_document_gives_working_defaults) {
  const auto c = load_config("", {});
  EXPECT_EQ(c.listen.grpc, "127.0.0.1:7300");
  EXPECT_EQ(c.listen.admin, "127.0.0.1:7301");
  EXPECT_EQ(c.listen.unix_socket, "");
  EXPECT_EQ(c.server.threads, 0u);
  EXPECT_EQ(c.server.max_message_bytes, 4u << 20);
  EXPECT_EQ(c.server.shutdown_grace, milliseconds(10'000));
  EXPECT_EQ(c.server.per_client.in_flight, 10'000u);
  EXPECT_EQ(c.server.per_client.streams, 1'000u);
  EXPECT_TRUE(c.server.hold_writes);
  EXPECT_EQ(c.log.level, "info");
  EXPECT_EQ(c.log.format, log_format::text);
  EXPECT_TRUE(c.targets.empty());
  EXPECT_EQ(load_config("# only a comment\n", {}).listen.grpc, "127.0.0.1:7300");
}

TEST(config, full_document) {
  const auto c = load_config(R"(
listen:
  grpc: 0.0.0.0:7400
  unix_socket: /run/brokerside/grpc.sock
  admin: ""
server:
  threads: 4
  max_message_bytes: 1MiB
  keepalive_time: 20s
  keepalive_timeout: 5s
  shutdown_grace: 30s
  drain_delay: 2s
  allow_insecure_remote: true
  hold_writes: false
log: {level: debug, format: json, access_sample: 0.25}
tracing: {generate: true}
readiness:
  required_targets: [cache]
targets:
  cache:
    urls: [redis://a:6379, redis://b:6379]
    failover: shuffle
    pool:
      min_idle: 2
      max_connections: 16
      max_pending: 10
      acquire_timeout: 1s
      connect_timeout: 2s
      idle_timeout: 0
      max_lifetime: 1h
      lifetime_jitter: 0.25
      health_check_interval: 15s
      max_in_flight: 64
    retry:
      max_retries: 5
      initial_interval: 10ms
      multiplier: 3
      max_interval: 1s
      jitter: 0.5
      budget_ratio: 0.1
      budget_min_per_second: 3
      budget_window: 5s
    breaker: {failure_threshold: 3, open_timeout: 2s}
    lease: {default_ttl: 10s, max_ttl: 1m}
  events:
    url: amqp://guest:guest@127.0.0.1:5672/%2f
    exchange_check_interval: 5s
  legacy:
    url: framed://10.0.0.5:9000?codec=msgpack
    listen: framed+unix:///run/brokerside/legacy.sock?codec=msgpack
    reply_timeout: 2s
)",
                             {});
  EXPECT_EQ(c.listen.grpc, "0.0.0.0:7400");
  EXPECT_TRUE(c.server.allow_insecure_remote);
  EXPECT_EQ(c.log.access_sample, 0.25);
  EXPECT_TRUE(c.tracing.generate);
  EXPECT_EQ(c.listen.unix_socket, "/run/brokerside/grpc.sock");
  EXPECT_EQ(c.listen.admin, "");
  EXPECT_EQ(c.server.threads, 4u);
  EXPECT_EQ(c.server.max_message_bytes, 1u << 20);
  EXPECT_EQ(c.server.keepalive_time, milliseconds(20'000));
  EXPECT_EQ(c.server.keepalive_timeout, milliseconds(5'000));
  EXPECT_EQ(c.server.shutdown_grace, milliseconds(30'000));
  EXPECT_EQ(c.server.drain_delay, milliseconds(2'000));
  EXPECT_FALSE(c.server.hold_writes);
  EXPECT_EQ(c.log.level, "debug");
  EXPECT_EQ(c.log.format, log_format::json);
  EXPECT_EQ(c.readiness.required_targets, std::vector<std::string>{"cache"});
  ASSERT_EQ(c.targets.size(), 3u);
  const auto& cache = *c.find_target("cache");
  ASSERT_EQ(cache.urls.size(), 2u);
  EXPECT_EQ(cache.urls[1].host, "b");
  EXPECT_EQ(cache.failover, pool::failover_strategy::shuffle);
  EXPECT_EQ(cache.pool.min_idle, 2u);
  EXPECT_EQ(cache.pool.max_connections, 16u);
  EXPECT_EQ(cache.pool.max_pending, 10u);
  EXPECT_EQ(cache.pool.acquire_timeout, milliseconds(1'000));
  EXPECT_EQ(cache.pool.connect_timeout, milliseconds(2'000));
  EXPECT_EQ(cache.pool.idle_timeout, milliseconds(0));
  EXPECT_EQ(cache.pool.max_lifetime, milliseconds(3'600'000));
  EXPECT_DOUBLE_EQ(cache.pool.lifetime_jitter, 0.25);
  EXPECT_EQ(cache.pool.health_check_interval, milliseconds(15'000));
  EXPECT_EQ(cache.pool.max_in_flight, 64u);
  EXPECT_EQ(cache.retry.max_retries, 5u);
  EXPECT_EQ(cache.retry.initial_interval, milliseconds(10));
  EXPECT_DOUBLE_EQ(cache.retry.multiplier, 3);
  EXPECT_EQ(cache.retry.max_interval, milliseconds(1'000));
  EXPECT_DOUBLE_EQ(cache.retry.jitter, 0.5);
  EXPECT_DOUBLE_EQ(cache.retry.budget_ratio, 0.1);
  EXPECT_EQ(cache.retry.budget_min_per_second, 3u);
  EXPECT_EQ(cache.retry.budget_window, milliseconds(5'000));
  EXPECT_EQ(cache.breaker.failure_threshold, 3u);
  EXPECT_EQ(cache.breaker.open_timeout, milliseconds(2'000));
  EXPECT_EQ(cache.lease.default_ttl, milliseconds(10'000));
  EXPECT_EQ(cache.lease.max_ttl, milliseconds(60'000));
  const auto& events = *c.find_target("events");
  EXPECT_EQ(events.adapter->name, "amqp");
  EXPECT_EQ(events.urls[0].path, "/");
  EXPECT_EQ(events.options_as<amqp_options>().exchange_check_interval, milliseconds(5'000));
  // The framed adapter reads its own options.
  const auto& legacy = *c.find_target("legacy");
  EXPECT_EQ(legacy.adapter->name, "framed");
  const auto& framed = legacy.options_as<framed_options>();
  ASSERT_TRUE(framed.listen);
  EXPECT_EQ(framed.listen->unix_path, "/run/brokerside/legacy.sock");
  EXPECT_EQ(framed.listen->option("codec"), "msgpack");
  EXPECT_EQ(framed.reply_timeout, milliseconds(2'000));
  EXPECT_EQ(c.find_target("cache")->options_as<redis_options>().subscriber_connections,
            4u);  // its default
  EXPECT_EQ(c.find_target("nope"), nullptr);
}

TEST(config, overrides_win_over_the_file_and_create_sections) {
  const auto c = load_config("server: {threads: 2}\ntargets: {cache: {url: 'redis://h:1'}}\n",
                             {{"server.threads", "8"},
                              {"targets.cache.pool.max_connections", "3"},
                              {"targets.q.url", "amqp://h", true},
                              {"readiness.required_targets", "[cache, q]"},
                              {"log.format", "json"}});
  EXPECT_EQ(c.server.threads, 8u);
  EXPECT_EQ(c.find_target("cache")->pool.max_connections, 3u);
  EXPECT_EQ(c.find_target("q")->adapter->name, "amqp");
  EXPECT_EQ(c.readiness.required_targets, (std::vector<std::string>{"cache", "q"}));
  EXPECT_EQ(c.log.format, log_format::json);
}

TEST(config, loopback_listeners_need_no_authentication_and_others_do) {
  for (const char* local : {"127.0.0.1:7300", "127.5.6.7:1", "[::1]:7300", "localhost:7300"}) {
    EXPECT_TRUE(loopback_address(local)) << local;
    EXPECT_NO_THROW(load_config(std::string("listen: {grpc: '") + local + "'}", {})) << local;
  }
  for (const char* remote : {"0.0.0.0:7300", "[::]:7300", "10.1.2.3:7300", "127.evil.example:1",
                             "brokerside.internal:7300", "[::ffff:127.0.0.1]:1"}) {
    EXPECT_FALSE(loopback_address(remote)) << remote;
  }
  // A Unix socket only is local; tokens or TLS make a remote listener fine.
  EXPECT_NO_THROW(load_config("listen: {grpc: '', unix_socket: /run/bs.sock}", {}));
  EXPECT_NO_THROW(
      load_config("listen: {grpc: '0.0.0.0:7300'}\nserver: {allow_insecure_remote: true}", {}));
}

TEST(config, literal_override_keeps_yaml_special_characters) {
  const auto c = load_config("", {{"targets.x.url", "redis://h:1/0?a=b#frag", true}});
  EXPECT_EQ(c.find_target("x")->urls[0].option("a"), "b#frag");
}

TEST(config, every_error_names_its_setting) {
  const std::pair<const char*, const char*> cases[] = {
      {"listen: [1]", "listen: must be a mapping"},
      {"bogus: 1",
       "bogus: unknown setting (known here: listen, auth, quotas, server, log, tracing, targets, "
       "readiness)"},
      {"server: {per_client: {calls: 5}}",
       "server.per_client.calls: unknown setting (known here: in_flight, streams)"},
      {"server: {per_client: {in_flight: -1}}",
       "server.per_client.in_flight: must be a non-negative integer"},
      {"listen: {grpc: '0.0.0.0:7300'}",
       "listen.grpc: '0.0.0.0:7300' can be reached from other hosts and nothing checks who "
       "calls: listen on 127.0.0.1 or a Unix socket, or set listen.tls or auth.tokens_file (or "
       "server.allow_insecure_remote: true where a network policy keeps others out)"},
      {"listen: {grpc: '[::]:7300'}", "listen.grpc: '[::]:7300' can be reached from other hosts"},
      {"listen: {grpc: '10.0.0.5:7300'}",
       "listen.grpc: '10.0.0.5:7300' can be reached from other hosts"},
      {"log: {access_sample: 2}", "log.access_sample: must be a share from 0 to 1"},
      {"tracing: {generate: maybe}", "tracing.generate: "},
      {"listen: {grpcc: x}",
       "listen.grpcc: unknown setting (known here: grpc, unix_socket, unix_socket_mode, "
       "unix_socket_group, admin, tls)"},
      {"listen: {grpc: nope}", "listen.grpc: 'nope' is not host:port (e.g. 127.0.0.1:7300)"},
      {"listen: {grpc: 'h:99999'}", "listen.grpc: 'h:99999' is not host:port"},
      {"listen: {admin: ':1'}", "listen.admin: ':1' is not host:port"},
      {"listen: {grpc: ''}", "listen.grpc: empty, and no listen.unix_socket either"},
      {"listen: {unix_socket: rel.sock}", "listen.unix_socket: must be an absolute path"},
      {"listen: {grpc: [a]}", "listen.grpc: must be a single value"},
      {"server: {threads: -1}", "server.threads: must be a non-negative integer, not '-1'"},
      {"server: {threads: 2000}", "server.threads: must be at most 1024"},
      {"server: {threads: 99999999999}", "server.threads: too large"},
      {"server: {max_message_bytes: 1}", "server.max_message_bytes: must be between 1KiB and 1GiB"},
      {"server: {max_message_bytes: lots}", "server.max_message_bytes: 'lots' is not a size"},
      {"server: {shutdown_grace: 10}", "server.shutdown_grace: '10' is not a duration"},
      {"server: {shutdown_grace: 1s, drain_delay: 2s}",
       "server.drain_delay: must not exceed server.shutdown_grace"},
      {"log: {level: loud}",
       "log.level: must be trace, debug, info, warn, error or off, not 'loud'"},
      {"log: {format: xml}", "log.format: must be text or json, not 'xml'"},
      {"readiness: {required_targets: [x]}", "readiness.required_targets: no target named 'x'"},
      {"readiness: {required_targets: {a: 1}}", "readiness.required_targets: must be a list"},
      {"targets: {c: {}}", "targets.c.url: required (e.g. redis://127.0.0.1:6379)"},
      {"targets: {c: {url: 'mongodb://h'}}", "targets.c.url: unknown URL scheme 'mongodb'"},
      {"targets: {c: {urls: ['redis://h', 'amqp://h']}}",
       "targets.c.urls[1]: all URLs of a target must use the same adapter"},
      {"targets: {c: {urls: ['redis://h', 'redis://']}}", "targets.c.urls[1]: no host"},
      {"targets: {c: {url: 'redis://h', urls: ['redis://g']}}",
       "targets.c.url: give url or urls, not both"},
      {"targets: {c: {url: 'redis://h', colour: red}}", "targets.c.colour: unknown setting"},
      {"targets: {'bad name': {url: 'redis://h'}}",
       "targets.bad name: target names are 1-64 of A-Z a-z 0-9 _ -"},
      {"targets: {c: {url: 'redis://h', max_frame_bytes: 10}}",
       "targets.c.max_frame_bytes: must be between 1KiB and 4GiB"},
      {"targets: {c: {url: 'redis://h', tls: {ca_file: /x}}}",
       "targets.c.tls: the URL scheme redis:// does not use TLS"},
      {"targets: {c: {url: 'rediss://h', tls: {ca_file: /no/such/ca.pem}}}",
       "targets.c.tls.ca_file: '/no/such/ca.pem' cannot be read"},
      {"targets: {c: {url: 'rediss://h', tls: {ca_file: /dev/zero}}}",
       "targets.c.tls.ca_file: '/dev/zero' cannot be read"},
      {"targets: {c: {url: 'rediss://h', tls: {cert_file: /etc/hostname}}}",
       "targets.c.tls.cert_file: needs key_file"},
      {"targets: {c: {url: 'rediss://h', tls: {ca_file: /etc/hostname}}}",
       "targets.c.tls.ca_file: '/etc/hostname' is not usable"},
      {"targets: {c: {url: 'rediss://h', tls: {verify: maybe}}}",
       "targets.c.tls.verify: must be true or false, not 'maybe'"},
      {"targets: {c: {url: 'redis://h', listen: 'framed://127.0.0.1:9100'}}",
       "targets.c.listen: unknown setting (known here: urls, url, failover, password_file, "
       "password_env, max_frame_bytes, write_high_water, write_low_water, tls, pool, retry, "
       "breaker, lease, allow, rules, subscriber_connections, cluster, cluster_refresh_interval, "
       "read_from_replicas, sentinel_username, sentinel_password_file, sentinel_password_env)"},
      {"targets: {c: {urls: ['redis+sentinel://h/m', 'redis://h']}}",
       "targets.c: mixes sentinel URLs (redis+sentinel://) with others ('redis://h'): give only "
       "sentinels"},
      {"targets: {c: {url: 'redis+sentinel://h'}}",
       "targets.c: a sentinel URL names the primary as its path, the same in each "
       "(redis+sentinel://host:26379/mymaster)"},
      {"targets: {c: {url: 'redis+sentinel://h/m', cluster: true}}",
       "targets.c: is a Redis Cluster or Sentinel-managed, not both"},
      {"targets: {c: {url: 'redis://h', sentinel_password_env: HOME}}",
       "targets.c.sentinel_password_env: only for a Sentinel target (redis+sentinel://)"},
      {"targets: {c: {url: 'redis+sentinel://h/m', sentinel_password_env: BROKERSIDE_UNSET_X}}",
       "targets.c.sentinel_password_env: environment variable BROKERSIDE_UNSET_X is not set"},
      {"targets: {c: {url: 'redis+sentinel://h/m', sentinel_password_env: HOME, "
       "sentinel_password_file: /etc/hostname}}",
       "targets.c.sentinel_password_file: give sentinel_password_file or sentinel_password_env, "
       "not both"},
      {"targets: {c: {url: 'redis://h', read_from_replicas: true}}",
       "targets.c.read_from_replicas: only for a Redis Cluster target"},
      {"targets: {c: {url: 'redis+cluster://h', cluster_refresh_interval: 0}}",
       "targets.c.cluster_refresh_interval: must be above 0"},
      {"targets: {c: {url: 'redis://h', subscriber_connections: 0}}",
       "targets.c.subscriber_connections: must be from 1 to 1024"},
      {"targets: {c: {url: 'framed://h:1', listen: 'redis://127.0.0.1:9100'}}",
       "targets.c.listen: unknown URL scheme 'redis' (known: framed, framed+unix)"},
      {"targets: {c: {url: 'framed://h:1', listen: 'framed://127.0.0.1'}}",
       "targets.c.listen: 'framed://127.0.0.1' needs a port"},
      {"targets: {c: {url: 'framed://h:1', listen: 'framed://localhost:9100'}}",
       "targets.c.listen: 'localhost' is not an IP address"},
      {"targets: {c: {url: 'framed://h:1', listen: "
       "'framed+unix:///"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxx'}}",
       "targets.c.listen: the socket path is longer than 107 bytes"},
      {"targets: {c: {url: 'framed://h:1', reply_timeout: 0s}}",
       "targets.c.reply_timeout: must be positive"},
      {"targets: {c: {url: 'redis://h', reply_timeout: 5s}}",
       "targets.c.reply_timeout: unknown setting"},
      {"targets: {c: {url: 'redis://h', failover: random}}",
       "targets.c.failover: must be round_robin or shuffle, not 'random'"},
      {"targets: {c: {url: 'redis://h', pool: {max_connections: 0}}}",
       "targets.c.pool.max_connections: must be at least 1"},
      {"targets: {c: {url: 'redis://h', pool: {min_idle: 9, max_connections: 2}}}",
       "targets.c.pool.min_idle: must not exceed max_connections"},
      {"targets: {c: {url: 'redis://h', pool: {size: 2}}}", "targets.c.pool.size: unknown setting"},
      {"targets: {c: {url: 'redis://h', pool: {lifetime_jitter: lots}}}",
       "targets.c.pool.lifetime_jitter: must be a number"},
      {"targets: {c: {url: 'redis://h', retry: {multiplier: 0.5}}}",
       "targets.c.retry.multiplier: must be at least 1"},
      {"targets: {c: {url: 'redis://h', breaker: {open_timeout: 0}}}",
       "targets.c.breaker.open_timeout: must be positive when the breaker is on"},
      {"targets: {c: {url: 'redis://h', lease: {max_ttl: 1s}}}",
       "targets.c.lease.max_ttl: must not be below default_ttl"},
      {"targets: {c: {url: 'redis://h', password_file: /nonexistent/pw}}",
       "targets.c.password_file: cannot read '/nonexistent/pw': No such file or directory"},
      {"targets: {c: {url: 'redis://h', password_file: /dev/zero}}",
       "targets.c.password_file: '/dev/zero' is not a regular file"},
      {"auth: {tokens_file: /dev/zero}", "auth.tokens_file: '/dev/zero' is not a regular file"},
      {"listen: {tls: {cert_file: /dev/zero, key_file: /dev/zero}}",
       "listen.tls.cert_file: '/dev/zero' is not a regular file"},
      {"targets: {c: {url: 'redis://h', password_env: BROKERSIDE_TEST_UNSET_VARIABLE}}",
       "targets.c.password_env: environment variable BROKERSIDE_TEST_UNSET_VARIABLE is not set"},
      {"targets: {c: {url: 'redis://h', password_env: A, password_file: B}}",
       "targets.c.password_file: give password_file or password_env, not both"},
      {"targets: {c: {url: 'redis://h', rules: {callers: x}}}", "targets.c.rules: must be a list"},
      {"targets: {c: {url: 'redis://h', rules: [x]}}", "targets.c.rules[0]: must be a mapping"},
      {"targets: {c: {url: 'redis://h', rules: [{destinations: [a]}]}}",
       "targets.c.rules[0].callers: required: the callers this applies to (identity patterns, '*' "
       "for everyone)"},
      {"targets: {c: {url: 'redis://h', rules: [{callers: ['']}]}}",
       "targets.c.rules[0].callers: an empty caller pattern"},
      {"targets: {c: {url: 'redis://h', rules: [{callers: '*', commands: [+@read, '-@nope']}]}}",
       "targets.c.rules[0].commands[1]: '-@nope': no such class (@all, @keyspace, @read"},
      {"targets: {c: {url: 'amqp://h', rules: [{callers: '*', commands: [+@read]}]}}",
       "targets.c.rules[0].commands[0]: '+@read': this adapter has no command classes"},
      {"targets: {c: {url: 'redis://h', rules: [{callers: '*', commands: [get]}]}}",
       "targets.c.rules[0].commands[0]: 'get': expected +NAME or -NAME"},
      {"targets: {c: {url: 'redis://h', rules: [{callers: '*', topics: [a]}]}}",
       "targets.c.rules[0].topics: unknown setting (known here: callers, destinations, "
       "commands)"},
      {"quotas: {callers: x}", "quotas: must be a list"},
      {"quotas: [{operations_per_second: 5}]", "quotas[0].callers: required"},
      {"quotas: [{callers: '*', operations_per_second: -1}]",
       "quotas[0].operations_per_second: must be from 0 (no limit) to 1e9"},
      {"quotas: [{callers: '*', bytes_per_second: lots}]",
       "quotas[0].bytes_per_second: 'lots' is not a size"},
      {"quotas: [{callers: '*', burst: 0}]", "quotas[0].burst: must be between 1ms and 1h"},
      {"quotas: [{callers: '*', in_flight: -2}]",
       "quotas[0].in_flight: must be a non-negative integer"},
      {"quotas: [{callers: '*', sreams: 2}]",
       "quotas[0].sreams: unknown setting (known here: callers, operations_per_second, "
       "bytes_per_second, burst, in_flight, streams)"},
      {"- a\n- b\n", "the configuration must be a YAML mapping"},
      {"listen: {grpc: [\n", "line 2, column 1: malformed YAML"},
      {"a: b: c", "line 1, column 5: malformed YAML: illegal map value"},
  };
  for (const auto& [yaml, expected] : cases) {
    const auto error = error_of(yaml);
    EXPECT_EQ(error.rfind(expected, 0), 0u) << "yaml: " << yaml << "\nerror: " << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
}

TEST(config, rules_and_quotas_are_read_in_order) {
  const auto c = load_config(R"(
quotas:
  - {callers: ['token:batch*'], operations_per_second: 200, bytes_per_second: 1MiB, burst: 250ms,
     in_flight: 8, streams: 2}
  - {callers: '*', in_flight: 100}
targets:
  cache:
    url: redis://h
    rules:
      - callers: [token:web]
        destinations: ['orders.*', audit]
        commands: [+@read, -@dangerous, +config|get]
      - callers: '*'
)",
                             {});
  ASSERT_EQ(c.quotas.size(), 2u);
  EXPECT_EQ(c.quotas[0].path, "quotas[0]");
  EXPECT_EQ(c.quotas[0].callers, std::vector<std::string>{"token:batch*"});
  EXPECT_EQ(c.quotas[0].operations_per_second, 200);
  EXPECT_EQ(c.quotas[0].bytes_per_second, 1u << 20);
  EXPECT_EQ(c.quotas[0].burst, std::chrono::milliseconds(250));
  EXPECT_EQ(c.quotas[0].in_flight, 8u);
  EXPECT_EQ(c.quotas[0].streams, 2u);
  EXPECT_EQ(c.quotas[1].burst, std::chrono::seconds(1));
  const auto& rules = c.targets.at(0).rules;
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].path, "targets.cache.rules[0]");
  EXPECT_EQ(*rules[0].destinations, (std::vector<std::string>{"orders.*", "audit"}));
  ASSERT_EQ(rules[0].commands->size(), 3u);
  EXPECT_EQ((*rules[0].commands)[2].name, "config");
  EXPECT_EQ((*rules[0].commands)[2].sub, "get");
  EXPECT_FALSE(rules[1].destinations.has_value());
  EXPECT_FALSE(rules[1].commands.has_value());
}

TEST(config, override_errors_name_the_setting) {
  EXPECT_EQ(error_of("", {{"server..threads", "1"}}),
            "server..threads: empty component in the setting's name");
  EXPECT_EQ(error_of("log: text", {{"log.level", "debug"}}),
            "log: is not a mapping, so log.level cannot be set");
  EXPECT_EQ(error_of("", {{"server.threads", "[1, 2]"}}), "server.threads: must be a single value");
}

TEST(config, secrets_from_a_file_and_from_the_environment) {
  const auto file = std::filesystem::temp_directory_path() / "brokerside-config-test-secret";
  std::ofstream(file) << "from-file\n";
  auto c = load_config(
      "targets: {c: {url: 'redis://u:inline@h', password_file: " + file.string() + "}}", {});
  EXPECT_EQ(c.targets[0].urls[0].password, "from-file");
  EXPECT_EQ(c.targets[0].urls[0].redacted, "redis://u:***@h");
  std::ofstream(file) << "\n";
  EXPECT_EQ(error_of("targets: {c: {url: 'redis://h', password_file: " + file.string() + "}}"),
            "targets.c.password_file: '" + file.string() + "' is empty");
  std::filesystem::remove(file);

  ::setenv("BROKERSIDE_TEST_PASSWORD", "from-env", 1);
  c = load_config(
      "targets: {c: {urls: ['redis://a', 'redis://b'], password_env: "
      "BROKERSIDE_TEST_PASSWORD}}",
      {});
  EXPECT_EQ(c.targets[0].urls[0].password, "from-env");
  EXPECT_EQ(c.targets[0].urls[1].password, "from-env");
  ::unsetenv("BROKERSIDE_TEST_PASSWORD");
}

TEST(config, errors_never_contain_a_password) {
  const auto error = error_of("targets: {c: {url: 'redis://u:hunter2@h:0'}}");
  EXPECT_NE(error, "no error");
  EXPECT_EQ(error.find("hunter2"), std::string::npos) << error;
}

}  // namespace
}  // namespace brokerside::sidecar
