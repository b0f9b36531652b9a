// bench_load: the benchmarks' load generator, an asynchronous (callback API)
// gRPC client. It warms up, measures for a duration or a count of calls,
// drains, and prints one JSON object: throughput, errors and EXACT latency
// percentiles (every sample kept). See tests/bench/README.md.
#include <cstdio>
#include <exception>

#include "tests/bench/load_drivers.h"

namespace bench = brokerside::bench;

int main(int argc, char** argv) {
  const auto options = bench::parse_load_options(argc, argv);
  try {
    nlohmann::json out;
    switch (options.mode) {
      case bench::load_mode::echo_unary:
      case bench::load_mode::send_get:
      case bench::load_mode::send_set:
        out = bench::run_unary(options);
        break;
      case bench::load_mode::echo_stream:
      case bench::load_mode::stream_set:
      case bench::load_mode::stream_publish:
        out = bench::run_stream(options);
        break;
      case bench::load_mode::recv_hold:
        out = bench::run_recv_hold(options);
        break;
      case bench::load_mode::recv_consume:
        out = bench::run_recv_consume(options);
        break;
      case bench::load_mode::startup:
        out = bench::run_startup(options);
        break;
      case bench::load_mode::lease_hold:
        out = bench::run_lease_hold(options);
        break;
    }
    std::printf("%s\n", out.dump().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_load: %s\n", e.what());
    return 1;
  }
}
