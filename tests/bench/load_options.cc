#include "tests/bench/load_options.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace brokerside::bench {
namespace {

constexpr std::pair<const char*, load_mode> modes[] = {
    {"echo-unary", load_mode::echo_unary},     {"echo-stream", load_mode::echo_stream},
    {"send-get", load_mode::send_get},         {"send-set", load_mode::send_set},
    {"stream-set", load_mode::stream_set},     {"stream-publish", load_mode::stream_publish},
    {"recv-hold", load_mode::recv_hold},       {"startup", load_mode::startup},
    {"recv-consume", load_mode::recv_consume}, {"lease-hold", load_mode::lease_hold},
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(
      stderr,
      "bench_load: %s\n"
      "usage: bench_load --mode MODE [--address HOST:PORT] [--clients N] [--in-flight N]\n"
      "         [--streams N] [--batch N] [--keys N] [--warmup S] [--duration S | --count N] "
      "[--payload BYTES]\n"
      "         [--target NAME] [--key KEY] [--routing-key KEY] [--destination D]\n"
      "         [--group NAME] [--label TEXT]\n"
      "         [--rss-pid PID] [--server-pid PID] [--hold S] [-- COMMAND...]\n"
      "modes: echo-unary echo-stream send-get send-set stream-set stream-publish\n"
      "       recv-hold recv-consume startup lease-hold\n",
      why);
  std::exit(2);
}

}  // namespace

const char* mode_name(load_mode mode) {
  for (const auto& [name, m] : modes) {
    if (m == mode) return name;
  }
  return "?";
}

load_options parse_load_options(int argc, char** argv) {
  load_options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") {
      o.command.assign(argv + i + 1, argv + argc);
      break;
    }
    if (i + 1 >= argc) usage(("missing value for " + arg).c_str());
    const std::string value = argv[++i];
    try {
      if (arg == "--mode") {
        bool found = false;
        for (const auto& [name, m] : modes) {
          if (value == name) o.mode = m, found = true;
        }
        if (!found) usage(("unknown mode " + value).c_str());
      } else if (arg == "--address") {
        o.address = value;
      } else if (arg == "--clients") {
        o.clients = static_cast<std::uint32_t>(std::stoul(value));
      } else if (arg == "--in-flight") {
        o.in_flight = static_cast<std::uint32_t>(std::stoul(value));
      } else if (arg == "--keys") {
        o.keys = static_cast<std::uint32_t>(std::stoul(value));
      } else if (arg == "--batch") {
        o.batch = static_cast<std::uint32_t>(std::stoul(value));
      } else if (arg == "--streams") {
        o.streams = static_cast<std::uint32_t>(std::stoul(value));
      } else if (arg == "--warmup") {
        o.warmup_s = std::stod(value);
      } else if (arg == "--duration") {
        o.duration_s = std::stod(value);
      } else if (arg == "--count") {
        o.count = std::stoull(value);
      } else if (arg == "--payload") {
        o.payload = static_cast<std::uint32_t>(std::stoul(value));
      } else if (arg == "--target") {
        o.target = value;
      } else if (arg == "--key") {
        o.key = value;
      } else if (arg == "--routing-key") {
        o.routing_key = value;
      } else if (arg == "--destination") {
        o.destination = value;
      } else if (arg == "--group") {
        o.group = value;
      } else if (arg == "--label") {
        o.label = value;
      } else if (arg == "--rss-pid") {
        o.rss_pid = std::stoi(value);
      } else if (arg == "--server-pid") {
        o.server_pid = std::stoi(value);
      } else if (arg == "--hold") {
        o.hold_s = std::stod(value);
      } else {
        usage(("unknown option " + arg).c_str());
      }
    } catch (const std::logic_error&) {
      usage(("bad value for " + arg + ": " + value).c_str());
    }
  }
  if (o.clients == 0 || o.in_flight == 0 || o.streams == 0 || o.batch == 0) {
    usage("counts must be at least 1");
  }
  if (o.mode == load_mode::startup && o.command.empty()) usage("startup needs -- COMMAND");
  return o;
}

}  // namespace brokerside::bench
