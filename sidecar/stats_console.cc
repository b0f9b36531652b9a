#include "sidecar/stats_console.h"

#include <fmt/format.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "brokerside/v1/brokerside.grpc.pb.h"
#include "pool/latency_histogram.h"
#include "sidecar/probe.h"

namespace brokerside::sidecar {
namespace {

using histogram = pool::latency_histogram;
using google::protobuf::util::TimeUtil;

// A target's figures as the console shows them.
struct row {
  std::string name, adapter, state;
  std::uint32_t connecting = 0, idle = 0, in_use = 0, leased = 0, max = 0;
  std::uint32_t waiters = 0, in_flight = 0, recv_streams = 0, leases = 0;
  std::optional<double> ops, errors;  // per second over the interval
  std::optional<double> p50, p99;     // seconds, calls of every kind over the interval
};

// The calls of every kind of `t`, merged into one histogram snapshot.
histogram::snapshot calls_of(const v1::TargetStats& t) {
  histogram::snapshot s;
  for (const auto& [name, h] : t.latencies()) {
    if (name.rfind("call.", 0) != 0) continue;
    for (int i = 0; i < h.counts_size() && i < static_cast<int>(histogram::buckets); ++i) {
      s.counts[static_cast<std::size_t>(i)] += h.counts(i);
    }
    s.count += h.count();
    s.sum_seconds += h.sum_seconds();
  }
  return s;
}

const v1::TargetStats* find(const v1::StatsResponse* r, const std::string& name) {
  if (r == nullptr) return nullptr;
  for (const auto& t : r->targets()) {
    if (t.name() == name) return &t;
  }
  return nullptr;
}

std::vector<row> rows_of(const v1::StatsResponse& now, const v1::StatsResponse* before,
                         double seconds) {
  std::vector<row> rows;
  for (const auto& t : now.targets()) {
    row r;
    r.name = t.name();
    r.adapter = t.adapter();
    r.state = !t.adapter_implemented()                     ? "n/a"
              : t.breaker() == v1::BREAKER_STATE_OPEN      ? "open"
              : t.breaker() == v1::BREAKER_STATE_HALF_OPEN ? "half-open"
              : t.healthy()                                ? "up"
                                                           : "down";
    r.connecting = t.pool().connecting();
    r.idle = t.pool().idle();
    r.in_use = t.pool().in_use();
    r.leased = t.pool().leased();
    r.max = t.pool().max_connections();
    r.waiters = t.pool().waiters();
    r.in_flight = t.pool().in_flight();
    r.recv_streams = static_cast<std::uint32_t>(t.subscriptions_size());
    r.leases = static_cast<std::uint32_t>(t.leases_size());
    if (const auto* b = find(before, t.name()); b != nullptr && seconds > 0) {
      auto delta = [&](std::uint64_t n, std::uint64_t o) {
        return n >= o ? static_cast<double>(n - o) / seconds : 0.0;
      };
      r.ops = delta(t.counters().operations(), b->counters().operations());
      r.errors = delta(t.counters().operation_errors(), b->counters().operation_errors());
      const auto calls = calls_of(t).since(calls_of(*b));
      if (calls.count != 0) {
        r.p50 = calls.quantile(0.5);
        r.p99 = calls.quantile(0.99);
      }
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

std::string duration_text(std::optional<double> seconds) {
  if (!seconds) return "-";
  if (*seconds < 0.001) return fmt::format("{:.0f}us", *seconds * 1e6);
  if (*seconds < 1) return fmt::format("{:.1f}ms", *seconds * 1e3);
  return fmt::format("{:.2f}s", *seconds);
}

std::string rate_text(std::optional<double> per_second) {
  if (!per_second) return "-";
  return fmt::format("{:.0f}", *per_second);
}

std::string age_text(std::int64_t seconds) {
  if (seconds < 60) return fmt::format("{}s", seconds);
  if (seconds < 3600) return fmt::format("{}m{:02}s", seconds / 60, seconds % 60);
  return fmt::format("{}h{:02}m", seconds / 3600, seconds % 3600 / 60);
}

struct options {
  std::string address = "127.0.0.1:7300";
  std::string target;
  std::string token_file;
  probe_tls_settings tls;
  double interval = 1.0;
  int count = 0;  // refreshes before exiting; 0: forever with --watch, else 1
  bool watch = false;
  bool json = false;
};

constexpr const char* usage_text =
    "usage: brokerside stats [--address HOST:PORT | unix:PATH] [--target NAME] [--watch]\n"
    "                        [--interval SECONDS] [--count N] [--json] [--token-file FILE]\n"
    "                        [--ca FILE [--cert FILE --key FILE] [--server-name NAME]]\n";

std::optional<options> parse(const std::vector<std::string>& args, std::string& error) {
  options o;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i];
    std::optional<std::string> value;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    if (name == "--watch" || name == "--json") {
      (name == "--watch" ? o.watch : o.json) = true;
      continue;
    }
    if (name == "--help" || name == "-h") {
      error = "";
      return std::nullopt;
    }
    static constexpr std::string_view with_values[] = {
        "--address", "--target",      "--token-file", "--ca",   "--cert",
        "--key",     "--server-name", "--interval",   "--count"};
    if (std::find(std::begin(with_values), std::end(with_values), name) == std::end(with_values)) {
      error = "unknown flag " + name;
      return std::nullopt;
    }
    if (!value) {
      if (i + 1 >= args.size()) {
        error = name + " needs a value";
        return std::nullopt;
      }
      value = args[++i];
    }
    try {
      if (name == "--address") {
        o.address = *value;
      } else if (name == "--target") {
        o.target = *value;
      } else if (name == "--token-file") {
        o.token_file = *value;
      } else if (name == "--ca") {
        o.tls.ca_file = *value;
      } else if (name == "--cert") {
        o.tls.cert_file = *value;
      } else if (name == "--key") {
        o.tls.key_file = *value;
      } else if (name == "--server-name") {
        o.tls.server_name = *value;
      } else if (name == "--interval") {
        o.interval = std::stod(*value);
        if (!(o.interval >= 0.1 && o.interval <= 3600)) throw std::out_of_range("interval");
      } else if (name == "--count") {
        o.count = std::stoi(*value);
        if (o.count < 1) throw std::out_of_range("count");
      }
    } catch (const std::exception&) {
      error = name + ": '" + *value + "' is not " +
              (name == "--count" ? "a count of 1 or more" : "a number of seconds from 0.1 to 3600");
      return std::nullopt;
    }
  }
  return o;
}

}  // namespace

std::string render_stats_table(const v1::StatsResponse& now, const v1::StatsResponse* before,
                               double seconds, const std::string& address) {
  std::string out;
  auto line = [&out]<typename... Args>(fmt::format_string<Args...> format, Args&&... args) {
    fmt::format_to(std::back_inserter(out), format, std::forward<Args>(args)...);
  };
  line("brokerside {} at {}, up {}; rates and latencies over {}\n\n", now.version(), address,
       age_text(TimeUtil::DurationToSeconds(now.uptime())),
       before != nullptr ? fmt::format("the last {:.1f} s", seconds) : "(none yet)");
  line("{:<16} {:<7} {:<9} {:>19} {:>5} {:>6} {:>8} {:>6} {:>8} {:>8} {:>5} {:>6}\n", "TARGET",
       "ADAPTER", "STATE", "CONN idle/use/ls/max", "WAIT", "INFL", "OPS/S", "ERR/S", "P50", "P99",
       "RECV", "LEASES");
  for (const auto& r : rows_of(now, before, seconds)) {
    auto conns = fmt::format("{}/{}/{}/{}", r.idle, r.in_use, r.leased, r.max);
    if (r.connecting != 0) conns = fmt::format("+{} {}", r.connecting, conns);
    line("{:<16} {:<7} {:<9} {:>19} {:>5} {:>6} {:>8} {:>6} {:>8} {:>8} {:>5} {:>6}\n", r.name,
         r.adapter, r.state, conns, r.waiters, r.in_flight, rate_text(r.ops), rate_text(r.errors),
         duration_text(r.p50), duration_text(r.p99), r.recv_streams, r.leases);
  }
  bool header = false;
  for (const auto& t : now.targets()) {
    for (const auto& l : t.leases()) {
      if (!header) {
        line("\n{:<40} {:<16} {:<28} {:>8} {:>9}\n", "LEASE", "TARGET", "HOLDER", "AGE",
             "TTL LEFT");
        header = true;
      }
      line("{:<40} {:<16} {:<28} {:>8} {:>9}\n", l.lease(), t.name(), l.holder(),
           age_text(TimeUtil::DurationToSeconds(l.age())),
           age_text(TimeUtil::DurationToSeconds(l.ttl_remaining())));
    }
  }
  return out;
}

std::string render_stats_json(const v1::StatsResponse& now, const v1::StatsResponse* before,
                              double seconds) {
  nlohmann::json targets = nlohmann::json::array();
  const auto rows = rows_of(now, before, seconds);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    auto opt = [](std::optional<double> v) { return v ? nlohmann::json(*v) : nlohmann::json(); };
    nlohmann::json leases = nlohmann::json::array();
    for (const auto& l : now.targets(static_cast<int>(i)).leases()) {
      leases.push_back({{"lease", l.lease()},
                        {"holder", l.holder()},
                        {"age_seconds", TimeUtil::DurationToSeconds(l.age())},
                        {"ttl_remaining_seconds", TimeUtil::DurationToSeconds(l.ttl_remaining())}});
    }
    targets.push_back({{"name", r.name},
                       {"adapter", r.adapter},
                       {"state", r.state},
                       {"connections",
                        {{"connecting", r.connecting},
                         {"idle", r.idle},
                         {"in_use", r.in_use},
                         {"leased", r.leased},
                         {"max", r.max}}},
                       {"waiters", r.waiters},
                       {"in_flight", r.in_flight},
                       {"ops_per_second", opt(r.ops)},
                       {"errors_per_second", opt(r.errors)},
                       {"p50_seconds", opt(r.p50)},
                       {"p99_seconds", opt(r.p99)},
                       {"recv_streams", r.recv_streams},
                       {"leases", std::move(leases)}});
  }
  return nlohmann::json{
      {"version", now.version()},
      {"uptime_seconds", TimeUtil::DurationToSeconds(now.uptime())},
      {"interval_seconds", before != nullptr ? nlohmann::json(seconds) : nlohmann::json()},
      {"targets", std::move(targets)}}
      .dump();
}

int stats_console(const std::vector<std::string>& args) {
  std::string error;
  const auto parsed = parse(args, error);
  if (!parsed) {
    if (!error.empty()) std::fprintf(stderr, "brokerside stats: %s\n", error.c_str());
    std::fputs(usage_text, error.empty() ? stdout : stderr);
    return error.empty() ? 0 : 2;
  }
  const auto& o = *parsed;
  std::string token;
  if (!o.token_file.empty()) {
    std::ifstream in(o.token_file);
    if (!in || !std::getline(in, token) || token.empty()) {
      std::fprintf(stderr, "brokerside stats: --token-file: cannot read a token from %s\n",
                   o.token_file.c_str());
      return 1;
    }
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  }
  const auto channel = sidecar_channel(o.address, o.tls, error);
  if (!channel) {
    std::fprintf(stderr, "brokerside stats: %s\n", error.c_str());
    return 1;
  }
  auto stub = v1::Broker::NewStub(channel);
  auto read = [&](v1::StatsResponse& out) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
    v1::StatsRequest request;
    request.set_target(o.target);
    const auto status = stub->Stats(&context, request, &out);
    if (!status.ok()) {
      std::fprintf(stderr, "brokerside stats: %s: %s\n", o.address.c_str(),
                   status.error_message().c_str());
    }
    return status.ok();
  };
  const auto pause = std::chrono::duration<double>(o.interval);
  v1::StatsResponse before, now;
  if (!read(before)) return 1;
  const int refreshes = o.count != 0 ? o.count : o.watch ? -1 : 1;
  for (int i = 0; refreshes < 0 || i < refreshes; ++i) {
    const auto asked = std::chrono::steady_clock::now();
    std::this_thread::sleep_for(pause);
    if (!read(now)) return 1;
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - asked).count();
    if (o.json) {
      std::printf("%s\n", render_stats_json(now, &before, seconds).c_str());
    } else {
      // Redrawn in place when watching (home, clear), as top does.
      if (o.watch) std::fputs("\x1b[H\x1b[2J", stdout);
      std::fputs(render_stats_table(now, &before, seconds, o.address).c_str(), stdout);
    }
    std::fflush(stdout);
    before = std::move(now);
    now.Clear();
  }
  return 0;
}

}  // namespace brokerside::sidecar
