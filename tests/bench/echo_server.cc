// bench_echo_server: the bare gRPC hop, a callback-API server that echoes
// unary calls and stream messages with nothing behind it, built with the
// sidecar's toolchain and server options, so the benchmarks can say what
// brokerside adds on top of gRPC itself.
//
//   bench_echo_server --listen 127.0.0.1:PORT
#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>

#include "echo.grpc.pb.h"

namespace {

namespace pb = brokerside::bench;

// Echoes every message of one stream, reading on while earlier replies are
// written (as the sidecar's SendStream does), so the stream is not limited
// to one message per round trip.
class echo_stream_reactor final : public grpc::ServerBidiReactor<pb::EchoMessage, pb::EchoMessage> {
 public:
  echo_stream_reactor() { StartRead(&incoming_); }

  void OnReadDone(bool ok) override {
    std::lock_guard lock(mutex_);
    if (!ok) {
      reading_done_ = true;
      maybe_finish_locked();
      return;
    }
    outbox_.push_back(std::move(incoming_));
    incoming_.Clear();
    if (!writing_) {
      writing_ = true;
      StartWrite(&outbox_.front());
    }
    StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    outbox_.pop_front();
    writing_ = false;
    if (!ok) {
      broken_ = true;
      outbox_.clear();
    }
    if (!outbox_.empty()) {
      writing_ = true;
      StartWrite(&outbox_.front());
      return;
    }
    maybe_finish_locked();
  }

  void OnDone() override { delete this; }

 private:
  void maybe_finish_locked() {
    if (finished_ || writing_ || !(reading_done_ || broken_)) return;
    finished_ = true;
    Finish(grpc::Status::OK);
  }

  std::mutex mutex_;                    // guards everything below
  pb::EchoMessage incoming_;            // the read in progress
  std::deque<pb::EchoMessage> outbox_;  // front() is being written
  bool writing_ = false;                // a StartWrite is outstanding
  bool reading_done_ = false;           // the client half-closed
  bool broken_ = false;                 // a write failed
  bool finished_ = false;               // Finish() was called
};

class echo_service final : public pb::Echo::CallbackService {
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context,
                                 const pb::EchoMessage* request,
                                 pb::EchoMessage* response) override {
    *response = *request;
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  grpc::ServerBidiReactor<pb::EchoMessage, pb::EchoMessage>* EchoStream(
      grpc::CallbackServerContext*) override {
    return new echo_stream_reactor();
  }
};

volatile std::sig_atomic_t stop_signal = 0;

}  // namespace

int main(int argc, char** argv) {
  // As the sidecar does (sidecar/main.cc), so the baseline is the same gRPC.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::string listen = "127.0.0.1:0";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
      listen = argv[++i];
    } else {
      std::fprintf(stderr, "usage: bench_echo_server [--listen HOST:PORT]\n");
      return 2;
    }
  }
  echo_service service;
  grpc::ServerBuilder builder;
  // The sidecar's server options (sidecar/grpc_server.cc), at its defaults.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(4 << 20);
  builder.SetMaxSendMessageSize(4 << 20);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  if (!server) {
    std::fprintf(stderr, "bench_echo_server: cannot listen on %s\n", listen.c_str());
    return 1;
  }
  std::printf("listening on port %d\n", port);
  std::fflush(stdout);
  std::signal(SIGTERM, [](int) { stop_signal = 1; });
  std::signal(SIGINT, [](int) { stop_signal = 1; });
  while (!stop_signal) pause();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return 0;
}
