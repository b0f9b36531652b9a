// The command line of bench_load, the benchmarks' load generator.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace brokerside::bench {

enum class load_mode {
  echo_unary,      // Echo.Echo, 64-byte payload both ways
  echo_stream,     // Echo.EchoStream, `in_flight` messages outstanding per stream
  send_get,        // Broker.Send GET key (the key is SET to the payload first)
  send_set,        // Broker.Send SET key payload
  stream_set,      // Broker.SendStream SET key payload
  stream_publish,  // Broker.SendStream confirmed publish: AMQP to routing_key, or to destination
  recv_hold,       // opens `streams` Recv subscriptions, reports the server's RSS
  recv_consume,    // one Recv stream in `group` reads `count` deliveries of `destination`, acking
  startup,         // execs `command`, times it to SERVING, reports its idle RSS
  lease_hold,      // acquires `streams` leases per client, reports the server's RSS
};

struct load_options {
  load_mode mode = load_mode::echo_unary;
  std::string address = "127.0.0.1:7300";  // the server under load
  std::uint32_t clients = 1;               // channels, each its own TCP connection
  std::uint32_t in_flight = 1;             // calls outstanding per client (per stream)
  std::uint32_t streams = 1;               // streams per client (stream and recv modes)
  std::uint32_t batch = 1;        // stream_set: operations per SendStream message (>1: batched)
  double warmup_s = 1;            // not measured
  double duration_s = 5;          // measured, unless count is set
  std::uint64_t count = 0;        // measured calls (0: run for duration_s)
  std::uint32_t payload = 64;     // bytes of the echoed payload / value / body
  std::string target = "cache";   // brokerside target
  std::string key = "bench:key";  // Redis key
  std::uint32_t keys = 0;         // stream_set: each SET on "<key>:<n mod keys>" (0: `key` alone)
  std::string routing_key = "bench";  // AMQP routing key (default exchange)
  std::string destination;            // else a publish's destination (a NATS subject), as is
  std::string group;                  // recv_consume: the consumer group
  std::string label;                  // copied into the report
  int rss_pid = 0;                    // recv_hold, lease_hold: the process whose RSS is read
  int server_pid = 0;  // if set: its CPU time and context switches over the measured window
  double hold_s = 2;   // recv_hold / startup: settle before reading RSS
  std::vector<std::string> command;  // startup: the program and its arguments
};

// Parses argv; prints usage and exits 2 on a bad command line.
load_options parse_load_options(int argc, char** argv);
const char* mode_name(load_mode mode);

}  // namespace brokerside::bench
