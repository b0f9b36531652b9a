// Start-up and idle memory: execs the server, times it from exec to SERVING
// on grpc.health.v1 (overall service ""), lets it settle, reads its RSS, and
// stops it with SIGTERM (SIGKILL after 15 s).
#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/bench/latency_recorder.h"
#include "tests/bench/load_drivers.h"

extern char** environ;

namespace brokerside::bench {
namespace {

using namespace std::chrono_literals;

// Stops the child: SIGTERM, then SIGKILL if it has not exited in 15 s.
int stop_child(pid_t pid) {
  ::kill(pid, SIGTERM);
  int status = 0;
  for (int i = 0; i < 1500; ++i) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return status;
    std::this_thread::sleep_for(10ms);
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return status;
}

// Does a TCP connect to HOST:PORT (numeric IPv4) succeed?
bool port_open(const std::string& address) {
  const auto colon = address.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
  if (::inet_pton(AF_INET, address.substr(0, colon).c_str(), &addr.sin_addr) != 1) {
    throw std::runtime_error("startup needs a numeric IPv4 --address, not " + address);
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

long proc_status_kb(int pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const std::string prefix = std::string(field).append(":");
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) {
      std::istringstream fields(line.substr(prefix.size()));
      long kb = -1;
      fields >> kb;
      return kb;
    }
  }
  return -1;
}

nlohmann::json run_startup(const load_options& o) {
  std::vector<char*> argv;
  for (const auto& a : o.command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  const auto start = bench_clock::now();
  pid_t pid = 0;
  if (::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
    throw std::runtime_error("cannot exec " + o.command.front());
  }
  // gRPC's reconnect backoff (~100 ms at least) would blur the figure, so a
  // plain TCP connect, every 0.5 ms, waits for the listener first.
  double listening_ms = -1;
  while (bench_clock::now() - start < 20s) {
    if (port_open(o.address)) {
      listening_ms = std::chrono::duration<double, std::milli>(bench_clock::now() - start).count();
      break;
    }
    std::this_thread::sleep_for(500us);
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel = grpc::CreateCustomChannel(o.address, grpc::InsecureChannelCredentials(), args);
  auto stub = grpc::health::v1::Health::NewStub(channel);
  double serving_ms = -1;
  while (bench_clock::now() - start < 20s) {
    grpc::ClientContext context;
    context.set_wait_for_ready(true);
    context.set_deadline(std::chrono::system_clock::now() + 50ms);
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    const auto status = stub->Check(&context, request, &response);
    if (status.ok() && response.status() == grpc::health::v1::HealthCheckResponse::SERVING) {
      serving_ms = std::chrono::duration<double, std::milli>(bench_clock::now() - start).count();
      break;
    }
    int wstatus = 0;
    if (::waitpid(pid, &wstatus, WNOHANG) == pid) throw std::runtime_error("the server exited");
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.hold_s));
  nlohmann::json out;
  out["mode"] = "startup";
  out["label"] = o.label;
  out["exec_to_listening_ms"] = listening_ms;
  out["exec_to_serving_ms"] = serving_ms;
  out["rss_idle_kb"] = proc_status_kb(pid, "VmRSS");
  // What the RSS is: anonymous memory (heap, stacks: the process's own) and
  // file-backed pages (the code of the binary and its shared libraries,
  // shared with every process mapping them, and reclaimable).
  out["rss_anon_kb"] = proc_status_kb(pid, "RssAnon");
  out["rss_file_kb"] = proc_status_kb(pid, "RssFile");
  out["settle_s"] = o.hold_s;
  const int status = stop_child(pid);
  out["exit_status"] = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return out;
}

}  // namespace brokerside::bench
