#include "tests/bench/load_drivers.h"

#include <grpcpp/grpcpp.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "brokerside/v1/brokerside.grpc.pb.h"
#include "echo.grpc.pb.h"
#include "tests/bench/run_control.h"

namespace brokerside::bench {
namespace {

namespace v1 = brokerside::v1;
using namespace std::chrono_literals;

// One channel per client, each on its own TCP connection (a unique channel
// argument keeps gRPC from sharing the subchannel).
std::vector<std::shared_ptr<grpc::Channel>> make_channels(const load_options& o) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (std::uint32_t i = 0; i < o.clients; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("brokerside.bench.channel", static_cast<int>(i));
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto channel = grpc::CreateCustomChannel(o.address, grpc::InsecureChannelCredentials(), args);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + 10s)) {
      throw std::runtime_error("cannot connect to " + o.address);
    }
    channels.push_back(std::move(channel));
  }
  return channels;
}

std::string payload_of(const load_options& o) { return std::string(o.payload, 'x'); }

// A protocol-native command (a Redis argv, an AMQP method and its arguments).
v1::SendRequest redis_command(const load_options& o, std::initializer_list<std::string> args) {
  v1::SendRequest request;
  request.set_target(o.target);
  for (const auto& a : args) request.mutable_command()->add_args(a);
  return request;
}

nlohmann::json report(const load_options& o, double seconds, latency_recorder& all,
                      std::uint64_t errors, const run_control& control) {
  nlohmann::json out;
  out["mode"] = mode_name(o.mode);
  out["label"] = o.label;
  out["address"] = o.address;
  out["clients"] = o.clients;
  out["in_flight_per_client"] = o.in_flight;
  out["streams_per_client"] = o.streams;
  out["payload_bytes"] = o.payload;
  out["warmup_s"] = o.warmup_s;
  out["seconds"] = seconds;
  out["ops"] = all.count();
  out["errors"] = errors;
  out["throughput"] = seconds > 0 ? double(all.count()) / seconds : 0.0;
  out["latency_us"] = all.summary();
  if (auto usage = control.server_usage(); !usage.empty() && all.count() != 0) {
    const double calls = double(all.count());
    usage["cpu_us_per_call"] = usage["cpu_s"].get<double>() * 1e6 / calls;
    usage["context_switches_per_call"] = usage["context_switches"].get<double>() / calls;
    out["server"] = usage;
  }
  return out;
}

// ---- unary: `in_flight` calls per client, each reissued as it completes ----

template <typename Request, typename Response>
class unary_load {
 public:
  using invoke_fn = std::function<void(grpc::ClientContext*, const Request*, Response*,
                                       std::function<void(grpc::Status)>)>;
  using check_fn = std::function<bool(const Response&)>;

  unary_load(run_control& control, Request request, check_fn check)
      : control_(control), request_(std::move(request)), check_(std::move(check)) {}

  void add_slot(invoke_fn invoke) {
    slots_.push_back(std::make_unique<slot>());
    slots_.back()->invoke = std::move(invoke);
    control_.add_participant();
  }
  void start() {
    for (auto& s : slots_) issue(*s);
  }
  std::uint64_t collect(latency_recorder& all, nlohmann::json& error_detail) {
    std::uint64_t errors = 0;
    std::map<int, std::uint64_t> codes;
    for (auto& s : slots_) {
      all.merge(s->latencies);
      errors += s->errors;
      for (const auto& [code, n] : s->error_codes) codes[code] += n;
      if (!s->error_message.empty()) error_detail["last_message"] = s->error_message;
    }
    for (const auto& [code, n] : codes) error_detail["by_code"][std::to_string(code)] = n;
    return errors;
  }

 private:
  struct slot {
    invoke_fn invoke;                              // starts the call on this slot's stub
    std::unique_ptr<grpc::ClientContext> context;  // the call in flight
    Response response;
    bench_clock::time_point start;
    latency_recorder latencies;  // touched by one call at a time: no lock
    std::uint64_t errors = 0;
    std::map<int, std::uint64_t> error_codes;  // gRPC status code -> count (-1: bad reply)
    std::string error_message;                 // the last one
  };

  void issue(slot& s) {
    s.context = std::make_unique<grpc::ClientContext>();
    s.context->set_deadline(std::chrono::system_clock::now() + 30s);
    s.response.Clear();
    s.start = bench_clock::now();
    s.invoke(s.context.get(), &request_, &s.response,
             [this, &s](grpc::Status status) { done(s, status); });
  }

  void done(slot& s, const grpc::Status& status) {
    const auto end = bench_clock::now();
    if (control_.measuring()) {
      if (status.ok() && check_(s.response)) {
        s.latencies.record(end - s.start);
        control_.completed();
      } else {
        ++s.errors;
        ++s.error_codes[status.ok() ? -1 : int(status.error_code())];
        s.error_message = status.error_message();
      }
    }
    if (control_.stopping()) return control_.participant_done();
    issue(s);
  }

  run_control& control_;
  const Request request_;  // every call sends the same request
  const check_fn check_;   // is the reply the expected one?
  std::vector<std::unique_ptr<slot>> slots_;
};

template <typename Request, typename Response>
nlohmann::json drive_unary(const load_options& o, unary_load<Request, Response>& load,
                           run_control& control) {
  load.start();
  const double seconds = control.run();
  if (!control.wait_drained(60)) throw std::runtime_error("calls did not drain within 60 s");
  latency_recorder all;
  nlohmann::json error_detail = nlohmann::json::object();
  const auto errors = load.collect(all, error_detail);
  auto out = report(o, seconds, all, errors, control);
  if (errors != 0) out["error_detail"] = error_detail;
  return out;
}

// ---- streams: a window of `in_flight` messages outstanding per stream ----

// Each outstanding message uses its window slot's index as its id, so the
// reply finds its send time whatever order replies come in.
template <typename Request, typename Response>
class stream_load final : public grpc::ClientBidiReactor<Request, Response> {
 public:
  using check_fn = std::function<bool(const Response&)>;
  // Changes the n-th message before it goes (another key); may be empty.
  using vary_fn = std::function<void(Request&, std::uint64_t n)>;

  stream_load(run_control& control, const Request& request, std::uint32_t window, check_fn check,
              vary_fn vary = {})
      : control_(control),
        request_(request),
        check_(std::move(check)),
        vary_(std::move(vary)),
        sent_(window) {
    control_.add_participant();
  }

  void start() {
    {
      std::lock_guard lock(mutex_);
      for (std::uint32_t i = 0; i < sent_.size(); ++i) enqueue_locked(i);
    }
    this->StartRead(&incoming_);
    this->StartCall();
  }

  grpc::ClientContext& context() { return context_; }
  latency_recorder& latencies() { return latencies_; }
  std::uint64_t errors() const { return errors_; }
  const grpc::Status& status() const { return status_; }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    writing_ = false;
    if (!ok) return;  // the stream broke; OnDone reports it
    if (!to_write_.empty()) return write_next_locked();
    maybe_close_locked();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    const auto end = bench_clock::now();
    const auto id = static_cast<std::uint32_t>(incoming_.id());
    const bool good = check_(incoming_);
    {
      std::lock_guard lock(mutex_);
      --outstanding_;
      if (control_.measuring()) {
        if (good && id < sent_.size()) {
          latencies_.record(end - sent_[id]);
          control_.completed();
        } else {
          ++errors_;
        }
      }
      if (!control_.stopping() && id < sent_.size()) {
        enqueue_locked(id);
      } else {
        maybe_close_locked();
      }
    }
    this->StartRead(&incoming_);
  }

  void OnDone(const grpc::Status& status) override {
    status_ = status;
    control_.participant_done();
  }

 private:
  void enqueue_locked(std::uint32_t id) {
    sent_[id] = bench_clock::now();
    to_write_.push_back(id);
    ++outstanding_;
    if (!writing_) write_next_locked();
  }
  void write_next_locked() {
    writing_ = true;
    outgoing_ = request_;
    outgoing_.set_id(to_write_.front());
    if (vary_) vary_(outgoing_, written_++);
    to_write_.pop_front();
    this->StartWrite(&outgoing_);
  }
  // Half-closes once the run stops and every reply has come back.
  void maybe_close_locked() {
    if (closed_ || writing_ || outstanding_ != 0 || !control_.stopping()) return;
    closed_ = true;
    this->StartWritesDone();
  }

  run_control& control_;
  const Request request_;  // the template of every message; only the id changes
  const check_fn check_;
  const vary_fn vary_;
  std::uint64_t written_ = 0;  // messages written, for vary_
  grpc::ClientContext context_;
  std::mutex mutex_;                           // guards everything below
  std::vector<bench_clock::time_point> sent_;  // send time by window slot
  std::deque<std::uint32_t> to_write_;         // slots waiting for the one write
  Request outgoing_;                           // the write in progress
  Response incoming_;                          // the read in progress (one at a time)
  std::uint32_t outstanding_ = 0;              // written or queued, not answered
  bool writing_ = false;
  bool closed_ = false;
  latency_recorder latencies_;
  std::uint64_t errors_ = 0;
  grpc::Status status_;
};

// Starts `streams`, runs the measurement, waits for them to drain, and
// reports their latencies and errors together.
template <typename Stream>
nlohmann::json run_streams(const load_options& o, run_control& control,
                           std::vector<std::unique_ptr<Stream>>& streams) {
  for (auto& s : streams) s->start();
  const double seconds = control.run();
  if (!control.wait_drained(60)) throw std::runtime_error("streams did not drain within 60 s");
  latency_recorder all;
  std::uint64_t errors = 0;
  for (auto& s : streams) {
    all.merge(s->latencies());
    errors += s->errors();
    if (!s->status().ok()) ++errors;
  }
  return report(o, seconds, all, errors, control);
}

template <typename Stub, typename Request, typename Response, typename Open>
nlohmann::json drive_streams(const load_options& o, const Request& request,
                             typename stream_load<Request, Response>::check_fn check, Open open,
                             typename stream_load<Request, Response>::vary_fn vary = {}) {
  run_control control(o);
  const auto channels = make_channels(o);
  std::vector<std::unique_ptr<Stub>> stubs;
  std::vector<std::unique_ptr<stream_load<Request, Response>>> streams;
  for (const auto& channel : channels) {
    stubs.push_back(std::make_unique<Stub>(channel));
    for (std::uint32_t i = 0; i < o.streams; ++i) {
      streams.push_back(std::make_unique<stream_load<Request, Response>>(control, request,
                                                                         o.in_flight, check, vary));
      open(*stubs.back(), *streams.back());
    }
  }
  return run_streams(o, control, streams);
}

// ---- batched SendStream: `in_flight` operations outstanding, sent in
// messages of `batch` (as redis-benchmark -P sends pipelines), answered in
// coalesced outcomes ----

class batch_stream_load final
    : public grpc::ClientBidiReactor<v1::SendStreamRequest, v1::SendStreamResponse> {
 public:
  batch_stream_load(run_control& control, v1::SendRequest send, std::uint32_t window,
                    std::uint32_t batch)
      : control_(control), send_(std::move(send)), batch_(batch), sent_(window) {
    control_.add_participant();
    for (std::uint32_t i = 0; i < window; ++i) free_.push_back(i);
  }

  void start() {
    {
      std::lock_guard lock(mutex_);
      fill_locked();
    }
    StartRead(&incoming_);
    StartCall();
  }

  grpc::ClientContext& context() { return context_; }
  latency_recorder& latencies() { return latencies_; }
  std::uint64_t errors() const { return errors_; }
  const grpc::Status& status() const { return status_; }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    writing_ = false;
    if (!ok) return;
    if (!to_write_.empty()) return write_next_locked();
    maybe_close_locked();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    const auto end = bench_clock::now();
    {
      std::lock_guard lock(mutex_);
      for (const auto& outcome : incoming_.outcomes()) {
        const auto id = static_cast<std::uint32_t>(outcome.id());
        const bool good = outcome.status().code() == 0 &&
                          outcome.result().reply().kind_case() != v1::Value::kError;
        --outstanding_;
        if (control_.measuring()) {
          if (good && id < sent_.size()) {
            latencies_.record(end - sent_[id]);
            control_.completed();
          } else {
            ++errors_;
          }
        }
        if (id < sent_.size()) free_.push_back(id);
      }
      if (!control_.stopping()) {
        fill_locked();
      } else {
        maybe_close_locked();
      }
    }
    StartRead(&incoming_);
  }

  void OnDone(const grpc::Status& status) override {
    status_ = status;
    control_.participant_done();
  }

 private:
  // Queues a message per `batch_` free slots.
  void fill_locked() {
    while (free_.size() >= batch_) {
      v1::SendStreamRequest message;
      const auto now = bench_clock::now();
      for (std::uint32_t i = 0; i < batch_; ++i) {
        const auto id = free_.back();
        free_.pop_back();
        sent_[id] = now;
        auto& op = *message.add_operations();
        op.set_id(id);
        *op.mutable_send() = send_;
      }
      outstanding_ += batch_;
      to_write_.push_back(std::move(message));
    }
    if (!writing_ && !to_write_.empty()) write_next_locked();
  }
  void write_next_locked() {
    writing_ = true;
    outgoing_ = std::move(to_write_.front());
    to_write_.pop_front();
    StartWrite(&outgoing_);
  }
  void maybe_close_locked() {
    if (closed_ || writing_ || outstanding_ != 0 || !control_.stopping()) return;
    closed_ = true;
    StartWritesDone();
  }

  run_control& control_;
  const v1::SendRequest send_;  // every operation
  const std::uint32_t batch_;   // operations per message
  grpc::ClientContext context_;
  std::mutex mutex_;                           // guards everything below
  std::vector<bench_clock::time_point> sent_;  // send time by window slot
  std::vector<std::uint32_t> free_;            // slots not outstanding
  std::deque<v1::SendStreamRequest> to_write_;
  v1::SendStreamRequest outgoing_;
  v1::SendStreamResponse incoming_;
  std::uint32_t outstanding_ = 0;
  bool writing_ = false;
  bool closed_ = false;
  latency_recorder latencies_;
  std::uint64_t errors_ = 0;
  grpc::Status status_;
};

// ---- Recv subscriptions held open ----

class recv_hold final : public grpc::ClientBidiReactor<v1::RecvRequest, v1::RecvResponse> {
 public:
  recv_hold(v1::Broker::Stub& stub, v1::RecvRequest subscribe, std::function<void(bool)> ready)
      : subscribe_(std::move(subscribe)), ready_(std::move(ready)) {
    stub.async()->Recv(&context_, this);
    StartWrite(&subscribe_);
    StartRead(&incoming_);
    StartCall();
  }
  void cancel() { context_.TryCancel(); }
  bool wait_done(std::chrono::seconds limit) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, limit, [this] { return done_; });
  }

  void OnWriteDone(bool) override {}
  void OnReadDone(bool ok) override {
    if (!reported_) {
      reported_ = true;
      ready_(ok && incoming_.has_subscribed());
    }
    if (ok) StartRead(&incoming_);
  }
  void OnDone(const grpc::Status&) override {
    if (!reported_) {
      reported_ = true;
      ready_(false);
    }
    std::lock_guard lock(mutex_);
    done_ = true;
    cv_.notify_all();
  }

 private:
  grpc::ClientContext context_;
  v1::RecvRequest subscribe_;
  v1::RecvResponse incoming_;
  std::function<void(bool)> ready_;  // called once: subscribed or not
  bool reported_ = false;            // touched by reads, one at a time
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
};

}  // namespace

nlohmann::json run_unary(const load_options& o) {
  run_control control(o);
  const auto channels = make_channels(o);
  if (o.mode == load_mode::echo_unary) {
    brokerside::bench::EchoMessage request;
    request.set_payload(payload_of(o));
    std::vector<std::unique_ptr<Echo::Stub>> stubs;
    unary_load<EchoMessage, EchoMessage> load(
        control, request, [size = o.payload](const auto& r) { return r.payload().size() == size; });
    for (const auto& channel : channels) {
      stubs.push_back(Echo::NewStub(channel));
      for (std::uint32_t i = 0; i < o.in_flight; ++i) {
        load.add_slot([stub = stubs.back().get()](auto* context, auto* req, auto* resp, auto done) {
          stub->async()->Echo(context, req, resp, std::move(done));
        });
      }
    }
    return drive_unary(o, load, control);
  }

  const bool get = o.mode == load_mode::send_get;
  std::vector<std::unique_ptr<v1::Broker::Stub>> stubs;
  for (const auto& channel : channels) stubs.push_back(v1::Broker::NewStub(channel));
  if (get) {
    // The value GET reads is the payload.
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 10s);
    v1::SendResponse response;
    const auto status =
        stubs.front()->Send(&context, redis_command(o, {"SET", o.key, payload_of(o)}), &response);
    if (!status.ok()) throw std::runtime_error("SET before GET failed: " + status.error_message());
  }
  const auto request =
      get ? redis_command(o, {"GET", o.key}) : redis_command(o, {"SET", o.key, payload_of(o)});
  unary_load<v1::SendRequest, v1::SendResponse> load(
      control, request, [get, size = o.payload](const v1::SendResponse& r) {
        return get ? r.reply().bytes().size() == size : r.reply().kind_case() != v1::Value::kError;
      });
  for (auto& stub : stubs) {
    for (std::uint32_t i = 0; i < o.in_flight; ++i) {
      load.add_slot([stub = stub.get()](auto* context, auto* req, auto* resp, auto done) {
        stub->async()->Send(context, req, resp, std::move(done));
      });
    }
  }
  return drive_unary(o, load, control);
}

nlohmann::json run_stream(const load_options& o) {
  if (o.mode == load_mode::echo_stream) {
    EchoMessage request;
    request.set_payload(payload_of(o));
    using load = stream_load<EchoMessage, EchoMessage>;
    return drive_streams<Echo::Stub, EchoMessage, EchoMessage>(
        o, request, [size = o.payload](const EchoMessage& r) { return r.payload().size() == size; },
        [](Echo::Stub& stub, load& s) { stub.async()->EchoStream(&s.context(), &s); });
  }
  if (o.mode == load_mode::stream_set && o.batch > 1) {
    run_control control(o);
    const auto channels = make_channels(o);
    std::vector<std::unique_ptr<v1::Broker::Stub>> stubs;
    std::vector<std::unique_ptr<batch_stream_load>> streams;
    for (const auto& channel : channels) {
      stubs.push_back(v1::Broker::NewStub(channel));
      for (std::uint32_t i = 0; i < o.streams; ++i) {
        streams.push_back(std::make_unique<batch_stream_load>(
            control, redis_command(o, {"SET", o.key, payload_of(o)}), o.in_flight, o.batch));
        stubs.back()->async()->SendStream(&streams.back()->context(), streams.back().get());
      }
    }
    auto out = run_streams(o, control, streams);
    out["batch"] = o.batch;
    return out;
  }
  v1::SendStreamRequest request;
  const bool publish = o.mode == load_mode::stream_publish;
  if (publish && !o.destination.empty()) {
    auto& send = *request.mutable_send();
    send.set_target(o.target);
    send.mutable_publish()->set_destination(o.destination);
    send.mutable_publish()->mutable_message()->set_body(payload_of(o));
  } else if (publish) {
    // The queue the default exchange routes to, declared and emptied first.
    auto stub = v1::Broker::NewStub(make_channels(o).front());
    for (const char* method : {"queue.declare", "queue.purge"}) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + 10s);
      v1::SendResponse response;
      const auto status =
          stub->Send(&context, redis_command(o, {method, o.routing_key}), &response);
      if (!status.ok())
        throw std::runtime_error(std::string(method) + ": " + status.error_message());
    }
    auto& send = *request.mutable_send();
    send.set_target(o.target);
    send.mutable_publish()->set_routing_key(o.routing_key);
    send.mutable_publish()->mutable_message()->set_body(payload_of(o));
  } else {
    *request.mutable_send() = redis_command(o, {"SET", o.key, payload_of(o)});
  }
  using load = stream_load<v1::SendStreamRequest, v1::SendStreamResponse>;
  return drive_streams<v1::Broker::Stub, v1::SendStreamRequest, v1::SendStreamResponse>(
      o, request,
      [publish](const v1::SendStreamResponse& r) {
        if (r.status().code() != 0) return false;
        return publish ? r.result().has_published()
                       : r.result().reply().kind_case() != v1::Value::kError;
      },
      [](v1::Broker::Stub& stub, load& s) { stub.async()->SendStream(&s.context(), &s); },
      o.keys == 0 || publish ? load::vary_fn{}
                             : [&o](v1::SendStreamRequest& r, std::uint64_t n) {
                                 r.mutable_send()->mutable_command()->set_args(
                                     1, o.key + ":" + std::to_string(n % o.keys));
                               });
}

nlohmann::json run_recv_hold(const load_options& o) {
  const long rss_before = o.rss_pid != 0 ? proc_status_kb(o.rss_pid, "VmRSS") : -1;
  const auto channels = make_channels(o);
  std::vector<std::unique_ptr<v1::Broker::Stub>> stubs;
  std::mutex mutex;
  std::condition_variable cv;
  std::uint32_t subscribed = 0, refused = 0;
  auto ready = [&](bool ok) {
    std::lock_guard lock(mutex);
    ++(ok ? subscribed : refused);
    cv.notify_all();
  };
  const auto start = bench_clock::now();
  std::vector<std::unique_ptr<recv_hold>> holds;
  std::uint32_t n = 0;
  for (const auto& channel : channels) {
    stubs.push_back(v1::Broker::NewStub(channel));
    for (std::uint32_t i = 0; i < o.streams; ++i, ++n) {
      v1::RecvRequest subscribe;
      subscribe.mutable_subscribe()->set_target(o.target);
      subscribe.mutable_subscribe()->add_sources(
          std::string("bench:ps:").append(std::to_string(n)));
      subscribe.mutable_subscribe()->set_credit(16);
      holds.push_back(std::make_unique<recv_hold>(*stubs.back(), std::move(subscribe), ready));
    }
  }
  {
    std::unique_lock lock(mutex);
    cv.wait_for(lock, 120s, [&] { return subscribed + refused == n; });
  }
  const double open_s = std::chrono::duration<double>(bench_clock::now() - start).count();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.hold_s));
  const long rss_open = o.rss_pid != 0 ? proc_status_kb(o.rss_pid, "VmRSS") : -1;
  for (auto& h : holds) h->cancel();
  for (auto& h : holds) h->wait_done(10s);
  nlohmann::json out;
  out["mode"] = mode_name(o.mode);
  out["label"] = o.label;
  out["streams"] = n;
  out["subscribed"] = subscribed;
  out["refused"] = refused;
  out["open_s"] = open_s;
  out["rss_before_kb"] = rss_before;
  out["rss_open_kb"] = rss_open;
  out["rss_per_stream_kb"] =
      subscribed != 0 && rss_before >= 0 ? double(rss_open - rss_before) / subscribed : -1.0;
  return out;
}

}  // namespace brokerside::bench
