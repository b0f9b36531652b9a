// bench_thread_model_server: the sidecar's per-call shape with nothing else —
// a unary call, one Redis GET over one pipelined connection, the reply — under
// two thread models, so they can be compared in one build (bench_load
// --mode echo-unary drives it; the Echo response echoes the request):
//
//   callback  gRPC's callback API; the handler hands the call to the Asio
//             thread, which writes to Redis, reads the reply and finishes the
//             call (what brokerside does today: two thread hops per call).
//   loop      gRPC's async API and Asio on ONE thread: gRPC's epoll descriptor
//             (epoll1 keeps one per process) is an Asio descriptor; when it is
//             readable the completion queue is drained with
//             AsyncNext(gpr_inf_past) on the same thread that writes to Redis.
//
//   bench_thread_model_server --listen HOST:PORT --model callback|loop
//                             [--redis HOST:PORT | --redis none]
//
// With --redis none the call is answered at once (the bare hop of each model).
//
// Two details the loop needs, both from gRPC 1.51's epoll1 poller
// (src/core/lib/iomgr/ev_epoll1_linux.cc): it keeps the events of one
// epoll_wait in a buffer and handles one per pollset_work, so events it has
// harvested no longer make its descriptor readable — epoll_wait is interposed
// below to take one event at a time from gRPC's descriptor; and a completion
// queued from a thread that is not polling kicks no descriptor
// (kicked_without_poller), so the loop drains after it starts gRPC operations
// itself, and a timer drains every --fallback-ms as a net in case another
// gRPC thread (timers, the executor) queued one.
#include <dirent.h>
#include <grpcpp/grpcpp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio.hpp>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <set>
#include <string>

#include "echo.grpc.pb.h"

namespace {
int grpc_epoll_fd = -1;
}

// gRPC's epoll set gives up one event per epoll_wait (see above).
extern "C" int epoll_wait(int epfd, struct epoll_event* events, int maxevents, int timeout) {
  if (epfd == grpc_epoll_fd && maxevents > 1) maxevents = 1;
  return epoll_pwait(epfd, events, maxevents, timeout, nullptr);
}

namespace {

namespace asio = boost::asio;
namespace pb = brokerside::bench;

std::set<int> eventpoll_fds() {
  std::set<int> out;
  DIR* dir = opendir("/proc/self/fd");
  while (auto* entry = readdir(dir)) {
    char link[64] = {};
    const std::string path = std::string("/proc/self/fd/") + entry->d_name;
    if (readlink(path.c_str(), link, sizeof link - 1) > 0 &&
        std::strcmp(link, "anon_inode:[eventpoll]") == 0) {
      out.insert(std::atoi(entry->d_name));
    }
  }
  closedir(dir);
  return out;
}

// One pipelined Redis connection: GETs written back to back, replies matched
// in order. Used only on the Asio thread.
class redis_line {
 public:
  redis_line(asio::io_context& io, const std::string& address) : socket_(io) {
    const auto colon = address.rfind(':');
    socket_.connect({asio::ip::make_address(address.substr(0, colon)),
                     static_cast<unsigned short>(std::stoi(address.substr(colon + 1)))});
    socket_.set_option(asio::ip::tcp::no_delay(true));
    read();
  }

  // `done` runs on the Asio thread with the reply's arrival.
  void get(std::function<void()> done) {
    static constexpr std::string_view command = "*2\r\n$3\r\nGET\r\n$8\r\nbench:tm\r\n";
    pending_.push_back(std::move(done));
    out_.append(command);
    if (!writing_) write();
  }

 private:
  void write() {
    writing_ = true;
    wire_.swap(out_);
    out_.clear();
    asio::async_write(socket_, asio::buffer(wire_), [this](boost::system::error_code ec, size_t) {
      if (ec) std::abort();
      writing_ = false;
      if (!out_.empty()) write();
    });
  }

  void read() {
    socket_.async_read_some(asio::buffer(buf_ + have_, sizeof buf_ - have_),
                            [this](boost::system::error_code ec, size_t n) {
                              if (ec) std::abort();
                              have_ += n;
                              size_t at = 0;
                              while (const size_t used = reply_length(at)) {
                                at += used;
                                auto done = std::move(pending_.front());
                                pending_.pop_front();
                                done();
                              }
                              std::memmove(buf_, buf_ + at, have_ - at);
                              have_ -= at;
                              read();
                            });
  }

  // The length of one whole bulk-string reply at `at`, 0 if incomplete.
  size_t reply_length(size_t at) const {
    const char* begin = buf_ + at;
    const char* end = buf_ + have_;
    const char* crlf = static_cast<const char*>(memmem(begin, end - begin, "\r\n", 2));
    if (crlf == nullptr) return 0;
    const long length = std::strtol(begin + 1, nullptr, 10);
    const size_t whole = (crlf + 2 - begin) + (length < 0 ? 0 : length + 2);
    return static_cast<size_t>(end - begin) >= whole ? whole : 0;
  }

  asio::ip::tcp::socket socket_;
  std::deque<std::function<void()>> pending_;  // oldest first
  std::string out_, wire_;                     // queued / being written
  bool writing_ = false;
  char buf_[65536];
  size_t have_ = 0;
};

asio::io_context* io = nullptr;
redis_line* redis = nullptr;  // null: answer at once

// ---- callback model -------------------------------------------------------

class callback_service final : public pb::Echo::CallbackService {
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context,
                                 const pb::EchoMessage* request,
                                 pb::EchoMessage* response) override {
    *response = *request;
    auto* reactor = context->DefaultReactor();
    if (redis == nullptr) {
      reactor->Finish(grpc::Status::OK);
    } else {
      asio::post(*io, [reactor] { redis->get([reactor] { reactor->Finish(grpc::Status::OK); }); });
    }
    return reactor;
  }
};

// ---- loop model -------------------------------------------------------------

pb::Echo::AsyncService* async_service = nullptr;
grpc::ServerCompletionQueue* queue = nullptr;
bool drain_posted = false;

void drain();

// After starting gRPC operations on this thread: their completions may be
// queued already, with no descriptor kicked.
void drain_soon() {
  if (drain_posted) return;
  drain_posted = true;
  asio::post(*io, [] {
    drain_posted = false;
    drain();
  });
}

struct unary_call {
  grpc::ServerContext context;
  pb::EchoMessage request, response;
  grpc::ServerAsyncResponseWriter<pb::EchoMessage> writer{&context};
  bool finishing = false;

  unary_call() { async_service->RequestEcho(&context, &request, &writer, queue, queue, this); }

  void proceed(bool ok) {
    if (finishing || !ok) {
      delete this;
      return;
    }
    new unary_call();
    response = request;
    finishing = true;
    if (redis == nullptr) {
      writer.Finish(response, grpc::Status::OK, this);
      return;
    }
    redis->get([this] {
      writer.Finish(response, grpc::Status::OK, this);
      drain_soon();
    });
  }
};

// Until a TIMEOUT with gRPC's descriptor no longer readable.
void drain() {
  for (;;) {
    void* tag = nullptr;
    bool ok = false;
    const auto status = queue->AsyncNext(&tag, &ok, gpr_inf_past(GPR_CLOCK_MONOTONIC));
    if (status == grpc::CompletionQueue::GOT_EVENT) {
      static_cast<unary_call*>(tag)->proceed(ok);
      continue;
    }
    if (status == grpc::CompletionQueue::SHUTDOWN) return;
    pollfd readable{grpc_epoll_fd, POLLIN, 0};
    if (poll(&readable, 1, 0) <= 0) return;
  }
}

void watch(asio::posix::stream_descriptor& descriptor) {
  descriptor.async_wait(asio::posix::descriptor_base::wait_read,
                        [&descriptor](boost::system::error_code ec) {
                          if (ec) return;
                          watch(descriptor);  // armed before draining: no edge is missed
                          drain();
                        });
}

void fallback(asio::steady_timer& timer, std::chrono::milliseconds every) {
  timer.expires_after(every);
  timer.async_wait([&timer, every](boost::system::error_code ec) {
    if (ec) return;
    drain();
    fallback(timer, every);
  });
}

volatile std::sig_atomic_t stop_signal = 0;

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0", model = "loop", redis_address = "none";
  int fallback_ms = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--listen") == 0)
      listen = argv[i + 1];
    else if (std::strcmp(argv[i], "--model") == 0)
      model = argv[i + 1];
    else if (std::strcmp(argv[i], "--redis") == 0)
      redis_address = argv[i + 1];
    else if (std::strcmp(argv[i], "--fallback-ms") == 0)
      fallback_ms = std::atoi(argv[i + 1]);
  }
  if (model != "loop" && model != "callback") {
    std::fprintf(stderr,
                 "usage: bench_thread_model_server --listen A --model callback|loop "
                 "[--redis HOST:PORT|none] [--fallback-ms N]\n");
    return 2;
  }
  asio::io_context context(1);
  io = &context;
  std::unique_ptr<redis_line> line;
  if (redis_address != "none") {
    line = std::make_unique<redis_line>(context, redis_address);
    redis = line.get();
  }

  const auto before = eventpoll_fds();
  callback_service callbacks;
  pb::Echo::AsyncService asynchronous;
  async_service = &asynchronous;
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials());
  std::unique_ptr<grpc::ServerCompletionQueue> completion_queue;
  if (model == "callback") {
    builder.RegisterService(&callbacks);
  } else {
    builder.RegisterService(&asynchronous);
    completion_queue = builder.AddCompletionQueue();
    queue = completion_queue.get();
  }
  auto server = builder.BuildAndStart();
  if (!server) return 1;
  // iomgr's epoll set is made first (grpc_init), the EventEngine's after it.
  for (const int fd : eventpoll_fds()) {
    if (before.count(fd) == 0 && grpc_epoll_fd < 0) grpc_epoll_fd = fd;
  }

  std::signal(SIGTERM, [](int) { stop_signal = 1; });
  asio::steady_timer stop_poll(context), fallback_timer(context);
  std::function<void()> check_stop = [&] {
    stop_poll.expires_after(std::chrono::milliseconds(100));
    stop_poll.async_wait([&](boost::system::error_code) {
      if (stop_signal) return context.stop();
      check_stop();
    });
  };
  check_stop();

  std::unique_ptr<asio::posix::stream_descriptor> descriptor;
  if (model == "loop") {
    for (int i = 0; i < 64; ++i) new unary_call();
    descriptor = std::make_unique<asio::posix::stream_descriptor>(context, dup(grpc_epoll_fd));
    watch(*descriptor);
    fallback(fallback_timer, std::chrono::milliseconds(fallback_ms));
    drain();
  }
  std::printf("listening, model %s, redis %s, grpc epoll fd %d\n", model.c_str(),
              redis_address.c_str(), grpc_epoll_fd);
  std::fflush(stdout);
  context.run();
  std::_Exit(0);
}
