#include "sidecar/held_writes.h"

#include <link.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/defer.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <cstring>

#include "protocol/dispatch_turn.h"

namespace {

// libgrpc's code: the executable segment of the loaded libgrpc.so.
struct code_range {
  std::uintptr_t begin = 0;
  std::uintptr_t end = 0;
};

int find_grpc_code(dl_phdr_info* info, size_t /*size*/, void* out) {
  const char* slash = std::strrchr(info->dlpi_name, '/');
  const char* name = slash != nullptr ? slash + 1 : info->dlpi_name;
  if (std::strncmp(name, "libgrpc.so", 10) != 0) return 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const auto& segment = info->dlpi_phdr[i];
    if (segment.p_type != PT_LOAD || (segment.p_flags & PF_X) == 0) continue;
    auto& range = *static_cast<code_range*>(out);
    range.begin = info->dlpi_addr + segment.p_vaddr;
    range.end = range.begin + segment.p_memsz;
    return 1;
  }
  return 0;
}

const code_range& grpc_code() {
  static const code_range range = [] {
    code_range found;
    dl_iterate_phdr(find_grpc_code, &found);
    return found;
  }();
  return range;
}

// The held_writes whose run() this thread is in, if any.
thread_local brokerside::sidecar::held_writes* holder = nullptr;

// Whether a release this thread scheduled has yet to start. Each thread
// schedules its own: one pending on another thread may run only when that
// thread's (perhaps long) handler ends. Reset by the release as it starts,
// before it takes the lists, so a write noted while it is still set is in
// them (the release may run on another thread: hence atomic).
thread_local std::atomic<bool> release_pending{false};

}  // namespace

// The definition libgrpc's calls bind to (the executable's comes first).
// gRPC's TCP endpoint writes with sendmsg, so a write whose caller lies in
// libgrpc's code, on a thread in run(), may be held; everything else passes.
extern "C" ssize_t sendmsg(int fd, const struct msghdr* message, int flags) {
  if (holder == nullptr) return ::syscall(SYS_sendmsg, fd, message, flags);
  const auto caller = reinterpret_cast<std::uintptr_t>(__builtin_return_address(0));
  const auto& grpc = grpc_code();
  if (caller < grpc.begin || caller >= grpc.end) return ::syscall(SYS_sendmsg, fd, message, flags);
  if (!holder->writing(fd)) return ::syscall(SYS_sendmsg, fd, message, flags);
  // Written first, noted after: a release that another thread runs in
  // between must not find the socket before there is anything to push.
  const auto sent = ::syscall(SYS_sendmsg, fd, message, flags | MSG_MORE);
  if (sent > 0) holder->held(fd);
  return sent;
}

namespace brokerside::sidecar {

held_writes::held_writes(boost::asio::io_context& io) : io_(io) {}

bool held_writes::available() { return grpc_code().end != 0; }

void held_writes::run() {
  struct current {
    explicit current(held_writes* h) { holder = available() ? h : nullptr; }
    ~current() { holder = nullptr; }
  } scope(this);
  io_.run();
}

bool held_writes::writing(int fd) {
  if (fd < 0) return false;
  bool hold = false;
  {
    std::lock_guard lock(mutex_);
    const auto at = static_cast<std::size_t>(fd);
    if (at >= sockets_.size()) sockets_.resize(at + 1);
    auto& socket = sockets_[at];
    hold = socket.writes > 0 || socket.busy;
    if (socket.writes == 0) touched_.push_back(fd);
    if (socket.writes < 2) ++socket.writes;
  }
  schedule_release();
  return hold;
}

void held_writes::held(int fd) {
  {
    std::lock_guard lock(mutex_);
    // A run of writes to one socket (one client's responses) notes it once;
    // release() sorts out the rest.
    if (held_.empty() || held_.back() != fd) held_.push_back(fd);
  }
  schedule_release();
}

void held_writes::schedule_release() {
  if (release_pending.load()) return;
  auto* pending = &release_pending;
  // At the end of this thread's dispatch turn, if one is open: the
  // responses finished by one read of a broker's replies leave together,
  // before the handlers queued behind it run. Else deferred to this
  // thread's own queue (a post would wake an idle I/O thread to run it),
  // which joins the shared queue's end once the handler at hand returns
  // (grpc_loop's drain releases at its end itself, see release_if_pending).
  // Set after it is scheduled (scheduling may throw), which is safe: until
  // this handler returns, nothing but this thread can run it.
  auto release = [self = shared_from_this(), pending] {
    pending->store(false);
    self->release();
  };
  if (!protocol::dispatch_turn::defer(release)) boost::asio::defer(io_, std::move(release));
  release_pending.store(true);
}

void held_writes::release_if_pending() {
  if (release_pending.exchange(false)) release();
}

void held_writes::release() {
  thread_local std::vector<int> fds;
  {
    std::lock_guard lock(mutex_);
    fds.swap(held_);
    for (const int fd : touched_) {
      auto& socket = sockets_[static_cast<std::size_t>(fd)];
      socket.busy = socket.writes > 1;
      socket.writes = 0;
    }
    touched_.clear();
  }
  std::sort(fds.begin(), fds.end());
  fds.erase(std::unique(fds.begin(), fds.end()), fds.end());
  for (const int fd : fds) {
    // Sets what gRPC set already, and pushes what MSG_MORE kept. A socket
    // closed since (EBADF) or a Unix one (EOPNOTSUPP) has nothing to push.
    const int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  }
  fds.clear();
}

}  // namespace brokerside::sidecar
