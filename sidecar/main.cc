// brokerside: pooled broker connections served over gRPC.
#include <absl/synchronization/mutex.h>
#include <spdlog/spdlog.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "brokerside/v1/brokerside.pb.h"
#include "sidecar/admin_server.h"
#include "sidecar/caller_metrics.h"
#include "sidecar/cli.h"
#include "sidecar/grpc_server.h"
#include "sidecar/latency_metrics.h"
#include "sidecar/logging.h"
#include "sidecar/memory_guard.h"
#include "sidecar/pool_metrics.h"
#include "sidecar/probe.h"
#include "sidecar/stats_console.h"
#include "sidecar/target_set.h"
#include "sidecar/version.h"

namespace bs = brokerside::sidecar;
namespace asio = boost::asio;

namespace {

constexpr int exit_bad_config = 2;
constexpr int exit_startup_failed = 1;

// The readiness rule of /readyz.
bool ready(const bs::config& cfg, const bs::grpc_server& grpc, std::string& reason) {
  if (!grpc.serving()) {
    reason = "not serving (starting or draining)";
    return false;
  }
  for (const auto& name : cfg.readiness.required_targets) {
    if (!grpc.target_healthy(name)) {
      reason = "required target '" + name + "' is not healthy";
      return false;
    }
  }
  return true;
}

void log_startup(const bs::config& cfg, const bs::grpc_server& grpc, int admin_port) {
  spdlog::info("brokerside {} serving gRPC on {}{}{}{}", bs::version,
               cfg.listen.grpc.empty() ? "" : cfg.listen.grpc,
               cfg.listen.grpc.ends_with(":0") ? " (port " + std::to_string(grpc.port()) + ")" : "",
               cfg.listen.unix_socket.empty() ? "" : " and unix:" + cfg.listen.unix_socket,
               admin_port != 0 ? "; admin HTTP on port " + std::to_string(admin_port) : "");
  for (const auto& target : cfg.targets) {
    std::string urls;
    for (const auto& url : target.urls) urls += (urls.empty() ? "" : ", ") + url.redacted;
    const bool implemented = target.adapter->implemented();
    spdlog::log(implemented ? spdlog::level::info : spdlog::level::warn,
                "target {}: {} ({} adapter{})", target.name, urls, target.adapter->name,
                implemented ? "" : ", not implemented in this build");
  }
  if (cfg.targets.empty()) spdlog::warn("no targets configured (add one with --target NAME=URL)");
  if (bs::exposed_without_auth(cfg)) {
    spdlog::warn(
        "gRPC on {} can be reached from other hosts and nothing checks who calls "
        "(server.allow_insecure_remote): whoever reaches it uses every target's credentials",
        cfg.listen.grpc);
  }
}

int serve(const bs::config& cfg) {
  bs::setup_logging(cfg.log);
  bs::metrics metrics;
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  bs::target_set targets(io.get_executor(), cfg);
  bs::memory_guard memory(io.get_executor(), cfg.server.max_memory);
  bs::grpc_server grpc(io, cfg, metrics, targets, &memory);
  bs::admin_server admin(
      io, {[&](std::string& reason) { return ready(cfg, grpc, reason); },
           [&](std::function<void(std::string)> reply) {
             targets.stats([&, reply](std::map<std::string, brokerside::pool::target_stats> pools) {
               auto text = metrics.render();
               bs::render_pool_metrics(cfg, pools, text);
               bs::render_recv_metrics(cfg, grpc.subscriptions(), text);
               bs::render_latency_metrics(targets, text);
               bs::render_caller_metrics(grpc.callers(), text);
               grpc.clients().render(text);
               memory.render(text);
               reply(std::move(text));
             });
           }});
  try {
    memory.start();
    grpc.start();
    if (!cfg.listen.admin.empty()) admin.start(cfg.listen.admin);
    targets.start([&grpc](const std::string& target, bool healthy) {
      spdlog::info("target {}: {}", target, healthy ? "reachable" : "unreachable");
      grpc.set_target_health(target, healthy);
    });
  } catch (const bs::startup_error& e) {
    std::fprintf(stderr, "brokerside: %s\n", e.what());
    return exit_startup_failed;
  }

  std::promise<int> stop;
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (!ec) stop.set_value(signo);
  });
  const unsigned threads = cfg.server.threads != 0
                               ? cfg.server.threads
                               : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < threads; ++i) pool.emplace_back([&grpc] { grpc.run(); });
  log_startup(cfg, grpc, cfg.listen.admin.empty() ? 0 : admin.port());

  const int signo = stop.get_future().get();
  spdlog::info("{}: draining for up to {} ms", strsignal(signo), cfg.server.shutdown_grace.count());
  grpc.shutdown(cfg.server.shutdown_grace, cfg.server.drain_delay);
  targets.stop();
  admin.stop();
  memory.stop();
  work.reset();
  io.stop();
  for (auto& t : pool) t.join();
  spdlog::info("stopped");
  return 0;
}

}  // namespace

// jemalloc's options, read at its first allocation: a background thread
// purges what the heap no longer uses (after a load, RSS otherwise stayed at
// its peak for as long as the process was idle: 155 MB 30 s after P7 in
// tests/bench/results/2026-12-02-p7.md). Without jemalloc (the sanitizer
// builds) nothing reads it.
extern "C" {
// NOLINTNEXTLINE: the name is jemalloc's
const char* malloc_conf =
    "background_thread:true,max_background_threads:1,dirty_decay_ms:5000,muzzy_decay_ms:5000";
}

int main(int argc, char** argv) {
  // Debian's Abseil checks every absl::Mutex acquisition (which gRPC makes
  // on each call) for lock-order cycles; that bookkeeping cost P1 13-19 %
  // of its throughput in the benchmark's paired trials.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (argc > 1 && std::string_view(argv[1]) == "stats") {
    return bs::stats_console(std::vector<std::string>(argv + 2, argv + argc));
  }
  bs::cli_options cli;
  try {
    cli = bs::parse_cli(argc, argv);
  } catch (const bs::config_error& e) {
    std::fprintf(stderr, "brokerside: %s\n", e.what());
    return exit_bad_config;
  }
  if (cli.action == bs::cli_action::help) {
    std::fputs(bs::usage(bs::builtin_adapters()).c_str(), stdout);
    return 0;
  }
  if (cli.action == bs::cli_action::version) {
    std::printf("brokerside %s\n", bs::version);
    return 0;
  }

  std::string yaml;
  const std::string source = cli.config_path.empty() ? "configuration" : cli.config_path;
  if (!cli.config_path.empty()) {
    std::ifstream in(cli.config_path);
    if (!in) {
      std::fprintf(stderr, "brokerside: %s: cannot read: %s\n", source.c_str(),
                   std::strerror(errno));
      return exit_bad_config;
    }
    std::ostringstream text;
    text << in.rdbuf();
    yaml = text.str();
  }
  bs::config cfg;
  try {
    cfg = bs::load_config(yaml, cli.overrides);
  } catch (const bs::config_error& e) {
    std::fprintf(stderr, "brokerside: %s: %s\n", source.c_str(), e.what());
    return exit_bad_config;
  }

  switch (cli.action) {
    case bs::cli_action::check_config:
      std::printf("brokerside: %s is valid (%zu target%s)\n", source.c_str(), cfg.targets.size(),
                  cfg.targets.size() == 1 ? "" : "s");
      return 0;
    case bs::cli_action::probe: {
      auto address = cli.probe_address.empty() ? cfg.listen.grpc : cli.probe_address;
      if (address.rfind("0.0.0.0:", 0) == 0) address = "127.0.0.1" + address.substr(7);
      if (address.rfind("[::]:", 0) == 0) address = "[::1]" + address.substr(4);
      if (address.empty()) address = "unix:" + cfg.listen.unix_socket;
      return bs::probe(address, cli.probe_service, cli.probe_tls);
    }
    default:
      return serve(cfg);
  }
}
