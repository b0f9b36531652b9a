// Calls on gRPC's async API, served by the grpc_loop, behind reactors that
// keep the callback API's names (StartRead, StartWrite, Finish, OnReadDone,
// OnWriteDone, OnCancel, OnDone), so a method's code reads as gRPC's callback
// examples do while nothing but the Asio threads ever polls gRPC. A method
// is a `*_method` (how its calls are asked for, what handles one); `listen`
// asks for one call, and each call that comes asks for the next.
#pragma once

#include <google/protobuf/arena.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/async_stream.h>
#include <grpcpp/support/async_unary_call.h>

#include <array>
#include <atomic>
#include <cassert>
#include <functional>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include "sidecar/grpc_loop.h"

namespace brokerside::sidecar {

namespace detail {
// The stream call whose reactor is being made on this thread (see
// stream_reactor's constructor).
inline thread_local void* binding_call = nullptr;
}  // namespace detail

// A unary call's answer: Finish once, from any thread, with the response
// filled first when the status is OK.
class unary_reactor {
 public:
  virtual void Finish(grpc::Status status) = 0;

 protected:
  ~unary_reactor() = default;
};

template <class Request, class Response>
struct unary_method {
  using writer = grpc::ServerAsyncResponseWriter<Response>;
  // Asks gRPC for the next call (the generated Request<Method>), with `tag`.
  std::function<void(grpc::ServerContext*, Request*, writer*, void* tag)> request;
  // Handles one call; the request and response live until Finish completes.
  std::function<void(grpc::ServerContext*, const Request*, Response*, unary_reactor*)> handle;
  grpc_loop* loop = nullptr;
};

template <class Request, class Response>
class unary_call final : public unary_reactor, private loop_tag {
 public:
  // `method` must outlive the server's queue.
  static void listen(const unary_method<Request, Response>& method) { new unary_call(method); }

  void Finish(grpc::Status status) override {
    // Another thread may take the completion and delete this before
    // Finish returns: nothing of it is touched after.
    auto* loop = method_.loop;
    finishing_ = true;
    if (status.ok()) {
      writer_.Finish(response_, status, as_tag());
    } else {
      writer_.FinishWithError(status, as_tag());
    }
    loop->wake();
  }

 private:
  explicit unary_call(const unary_method<Request, Response>& method)
      : method_(method),
        arena_(arena_options(first_block_)),
        request_(*google::protobuf::Arena::CreateMessage<Request>(&arena_)) {
    method_.loop->call_made();
    method_.request(&context_, &request_, &writer_, as_tag());
  }

  static google::protobuf::ArenaOptions arena_options(std::array<char, 512>& block) {
    google::protobuf::ArenaOptions o;
    o.initial_block = block.data();
    o.initial_block_size = block.size();
    return o;
  }

  ~unary_call() { method_.loop->call_gone(); }

  void* as_tag() { return static_cast<loop_tag*>(this); }

  void on_event(bool ok) override {
    if (!ok && !finishing_) {  // never came (shutdown)
      delete this;
      return;
    }
    if (finishing_) return release();  // answered
    listen(method_);
    // Held by the handler until it returns (it may Finish before, and
    // another thread take the completion) and by the answer.
    holds_.store(2, std::memory_order_relaxed);
    method_.handle(&context_, &request_, &response_, this);
    release();
  }

  void release() {
    if (holds_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  const unary_method<Request, Response>& method_;
  grpc::ServerContext context_;
  // The request is parsed onto an arena whose first block is part of the
  // call (a Send of a short command fits in it): no allocation per field. The
  // response stays off it: the handler swaps the broker's answer in, which
  // across arenas would be a copy.
  alignas(8) std::array<char, 512> first_block_;
  google::protobuf::Arena arena_;
  Request& request_;  // on arena_
  Response response_;
  typename unary_method<Request, Response>::writer writer_{&context_};
  bool finishing_ = false;     // Finish was called; the next event is its completion
  std::atomic<int> holds_{0};  // the handler's and the answer's (above)
};

// What a stream's reactor asks of its call.
template <class Request, class Response>
class stream_ops {
 public:
  virtual void read(Request* message) = 0;
  virtual void write(const Response* message, grpc::WriteOptions options) = 0;
  virtual void finish(grpc::Status status) = 0;

 protected:
  ~stream_ops() = default;
};

// A bidirectional (or, without reads, a server-streaming) call's reactor:
// at most one read and one write outstanding, Finish once (even when
// cancelled), OnDone last, after which the call is gone. The operations may
// be started from any thread, also from the constructor.
template <class Request, class Response>
class stream_reactor {
 public:
  virtual ~stream_reactor() = default;

  void StartRead(Request* message) { call_->read(message); }
  // `options.set_buffer_hint()`: the message may wait in gRPC's buffer for
  // the next write (which must come: use it only when another follows at
  // once). The write completes at once while gRPC holds back less than its
  // 64 KiB write buffer; beyond that gRPC writes, and it completes once
  // written.
  void StartWrite(const Response* message, grpc::WriteOptions options = {}) {
    call_->write(message, options);
  }
  void Finish(grpc::Status status) { call_->finish(std::move(status)); }

  virtual void OnReadDone(bool /*ok*/) {}
  virtual void OnWriteDone(bool /*ok*/) {}
  // The client went away or the deadline passed (before OnDone).
  virtual void OnCancel() {}
  virtual void OnDone() = 0;

 protected:
  // Made by a method's `open`, on the call's thread.
  stream_reactor() : call_(static_cast<stream_ops<Request, Response>*>(detail::binding_call)) {
    assert(call_ != nullptr);
  }

 private:
  stream_ops<Request, Response>* call_;  // the call this reactor serves
};

template <class Request, class Response>
using bidi_reactor = stream_reactor<Request, Response>;

// A server-streaming method's reactor never reads.
template <class Response>
using write_reactor = stream_reactor<void, Response>;

template <class Context, class Stream, class Request, class Response, class First>
class stream_call;

// Bidirectional: `Stream` = ServerAsyncReaderWriter<Response, Request>;
// server-streaming: ServerAsyncWriter<Response> (with the request read first).
template <class Context, class Stream, class Request, class Response, class First = void>
struct stream_method {
  using call_type = stream_call<Context, Stream, Request, Response, First>;
  // Asks gRPC for the next call, with `tag` (the first message too when
  // server-streaming).
  std::function<void(Context*, Stream*, First*, void* tag)> request;
  // Makes the call's reactor (it may start operations in its constructor).
  std::function<stream_reactor<Request, Response>*(Context*, const First*)> open;
  grpc_loop* loop = nullptr;
};

template <class Context, class Stream, class Request, class Response, class First>
class stream_call final : private stream_ops<Request, Response> {
 public:
  using method_type = stream_method<Context, Stream, Request, Response, First>;

  // `method` must outlive the server's queue.
  static void listen(const method_type& method) { new stream_call(method); }

 private:
  // One kind of completion of this call.
  struct event final : loop_tag {
    event(stream_call* call, void (stream_call::*handler)(bool)) : call(call), handler(handler) {}
    void on_event(bool ok) override { (call->*handler)(ok); }
    stream_call* call;
    void (stream_call::*handler)(bool);
  };

  explicit stream_call(const method_type& method) : method_(method) {
    method_.loop->call_made();
    context_.AsyncNotifyWhenDone(&done_);
    method_.request(&context_, &stream_, first_ptr(), &accepted_);
  }

  ~stream_call() { method_.loop->call_gone(); }

  First* first_ptr() {
    if constexpr (std::is_void_v<First>) {
      return nullptr;
    } else {
      return &first_;
    }
  }

  void on_accepted(bool ok) {
    if (!ok) {  // never came (shutdown): no done notification either
      delete this;
      return;
    }
    listen(method_);
    // Operations the reactor starts while it is being made wait until it is
    // (gRPC's callback API does the same): their completions call it.
    detail::binding_call = static_cast<stream_ops<Request, Response>*>(this);
    auto* reactor = method_.open(&context_, first_ptr());
    detail::binding_call = nullptr;
    std::unique_lock lock(mutex_);
    reactor_ = reactor;
    ++outstanding_;  // this binding: the call stays until it is over
    const auto held_read = std::exchange(held_read_, nullptr);
    const auto held_write = std::exchange(held_write_, nullptr);
    auto held_finish = std::exchange(held_finish_, std::nullopt);
    const bool cancelled = done_seen_ && context_.IsCancelled();
    lock.unlock();
    if (held_read != nullptr) start_read(held_read);
    if (held_write != nullptr) stream_.Write(*held_write, held_write_options_, &write_done_);
    if (held_finish) stream_.Finish(*held_finish, &finished_);
    method_.loop->wake();
    if (cancelled) reactor->OnCancel();  // done came first
    end(true, false, false);
  }

  void start_read(Request* message) {
    if constexpr (!std::is_void_v<Request>) stream_.Read(message, &read_done_);
  }

  // After an operation starts, another thread may take its completion and
  // end the call: nothing of it is touched after.
  void read(Request* message) override {
    auto* loop = method_.loop;
    if (!begin([&] { held_read_ = message; })) return;
    start_read(message);
    loop->wake();
  }

  void write(const Response* message, grpc::WriteOptions options) override {
    auto* loop = method_.loop;
    if (!begin([&] {
          held_write_ = message;
          held_write_options_ = options;
        })) {
      return;
    }
    stream_.Write(*message, options, &write_done_);
    loop->wake();
  }

  void finish(grpc::Status status) override {
    auto* loop = method_.loop;
    if (!begin([&] { held_finish_ = status; })) return;
    stream_.Finish(status, &finished_);
    loop->wake();
  }

  // Counts an operation as outstanding; false if the reactor is still being
  // made, when `hold` keeps the operation for on_accepted to start.
  template <class Hold>
  bool begin(Hold hold) {
    std::lock_guard lock(mutex_);
    ++outstanding_;
    if (reactor_ != nullptr) return true;
    hold();
    return false;
  }

  stream_reactor<Request, Response>* reactor() {
    std::lock_guard lock(mutex_);
    return reactor_;
  }

  void on_read(bool ok) {
    reactor()->OnReadDone(ok);
    end(true, false, false);
  }
  void on_write(bool ok) {
    reactor()->OnWriteDone(ok);
    end(true, false, false);
  }
  void on_finished(bool) { end(true, true, false); }
  void on_done(bool) {
    stream_reactor<Request, Response>* reactor = nullptr;
    {
      std::lock_guard lock(mutex_);
      reactor = reactor_;
      if (reactor == nullptr) {  // on_accepted tells the reactor, once made
        done_seen_ = true;
        return;
      }
    }
    if (context_.IsCancelled()) reactor->OnCancel();
    end(false, false, true);
  }

  // An operation (`operation`), the Finish (`finished`) or gRPC's done
  // notification (`done`) is over; the reactor's OnDone once all are.
  void end(bool operation, bool finished, bool done) {
    std::unique_lock lock(mutex_);
    if (operation) --outstanding_;
    finished_seen_ |= finished;
    done_seen_ |= done;
    if (!finished_seen_ || !done_seen_ || outstanding_ != 0 || reactor_ == nullptr) return;
    auto* reactor = std::exchange(reactor_, nullptr);
    lock.unlock();
    reactor->OnDone();
    delete this;
  }

  const method_type& method_;
  Context context_;
  Stream stream_{&context_};
  std::conditional_t<std::is_void_v<First>, char, First> first_{};
  event accepted_{this, &stream_call::on_accepted};
  event read_done_{this, &stream_call::on_read};
  event write_done_{this, &stream_call::on_write};
  event finished_{this, &stream_call::on_finished};
  event done_{this, &stream_call::on_done};
  std::mutex mutex_;                                      // guards what follows
  stream_reactor<Request, Response>* reactor_ = nullptr;  // once made (null again at OnDone)
  Request* held_read_ = nullptr;                          // started while the reactor was made
  const Response* held_write_ = nullptr;                  // the same
  grpc::WriteOptions held_write_options_;                 // ... and its options
  std::optional<grpc::Status> held_finish_;               // the same
  int outstanding_ = 0;                                   // reads, writes, finish under way
  bool finished_seen_ = false;                            // Finish completed
  bool done_seen_ = false;                                // gRPC is done with the call
};

}  // namespace brokerside::sidecar
