#include "sidecar/grpc_server.h"

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <thread>

#include "sidecar/async_calls.h"
#include "sidecar/broker_service.h"
#include "sidecar/grpc_loop.h"
#include "sidecar/health_service.h"
#include "sidecar/held_writes.h"
#include "sidecar/reflection_service.h"
#include "sidecar/server_tls_files.h"
#include "sidecar/units.h"
#include "sidecar/unix_listener.h"

namespace brokerside::sidecar {
namespace {

namespace asio = boost::asio;

// gRPC's own bind failure is a multi-line log and a null server; binding a
// socket first gives the one-line reason ("Address already in use").
void check_tcp_bindable(const std::string& address) {
  const auto [host, port] = *parse_host_port(address);  // validated with the configuration
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  boost::system::error_code ec;
  const auto endpoints = resolver.resolve(host, port, ec);
  if (ec) throw startup_error("listen.grpc: cannot resolve '" + host + "': " + ec.message());
  for (const auto& entry : endpoints) {
    asio::ip::tcp::acceptor acceptor(io);
    acceptor.open(entry.endpoint().protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(entry.endpoint(), ec);
    if (ec) throw startup_error("listen.grpc: cannot listen on " + address + ": " + ec.message());
  }
}

}  // namespace

// The async services and their methods, bound to the broker and health
// services' handlers on one completion queue.
class service_bindings {
 public:
  service_bindings(broker_service& broker, health_service& health, grpc_loop& loop)
      : broker_(broker),
        health_(health),
        loop_(loop),
        reflection_({"brokerside.v1.Broker", "grpc.health.v1.Health",
                     "grpc.reflection.v1alpha.ServerReflection"}) {}

  void register_with(grpc::ServerBuilder& builder) {
    builder.RegisterService(&broker_async_);
    builder.RegisterService(&health_async_);
    builder.RegisterAsyncGenericService(&generic_);
  }

  // Asks for the first calls of every method (each call asks for the next).
  void listen(grpc::ServerCompletionQueue* q) {
    using namespace v1;
    auto& b = broker_async_;
    auto* s = &broker_;
    unary<SendRequest, SendResponse>(
        q, 64, [&b](auto... a) { b.RequestSend(a...); },
        [s](auto* c, auto* r, auto* w, auto* f) { s->Send(c, r, w, f); });
    unary<AcquireRequest, AcquireResponse>(
        q, 4, [&b](auto... a) { b.RequestAcquire(a...); },
        [s](auto* c, auto* r, auto* w, auto* f) { s->Acquire(c, r, w, f); });
    unary<RenewRequest, RenewResponse>(
        q, 4, [&b](auto... a) { b.RequestRenew(a...); },
        [s](auto* c, auto* r, auto* w, auto* f) { s->Renew(c, r, w, f); });
    unary<ReleaseRequest, ReleaseResponse>(
        q, 4, [&b](auto... a) { b.RequestRelease(a...); },
        [s](auto* c, auto* r, auto* w, auto* f) { s->Release(c, r, w, f); });
    unary<StatsRequest, StatsResponse>(
        q, 2, [&b](auto... a) { b.RequestStats(a...); },
        [s](auto* c, auto* r, auto* w, auto* f) { s->Stats(c, r, w, f); });
    bidi<SendStreamRequest, SendStreamResponse>(
        q, 8, [&b](auto... a) { b.RequestSendStream(a...); },
        [s](grpc::ServerContext* c) { return s->SendStream(c); });
    bidi<RecvRequest, RecvResponse>(
        q, 16, [&b](auto... a) { b.RequestRecv(a...); },
        [s](grpc::ServerContext* c) { return s->Recv(c); });

    namespace health = grpc::health::v1;
    auto& h = health_async_;
    auto* hs = &health_;
    unary<health::HealthCheckRequest, health::HealthCheckResponse>(
        q, 4, [&h](auto... a) { h.RequestCheck(a...); },
        [hs](auto* c, auto* r, auto* w, auto* f) { hs->Check(c, r, w, f); });
    using watch_stream = grpc::ServerAsyncWriter<health::HealthCheckResponse>;
    using watch_method = stream_method<grpc::ServerContext, watch_stream, void,
                                       health::HealthCheckResponse, health::HealthCheckRequest>;
    auto& watch = keep<watch_method>();
    watch.request = [&h, q](grpc::ServerContext* c, watch_stream* w, health::HealthCheckRequest* r,
                            void* tag) { h.RequestWatch(c, r, w, q, q, tag); };
    watch.open = [hs](grpc::ServerContext* c, const health::HealthCheckRequest* r) {
      return hs->Watch(c, r);
    };
    listen_stream(watch, 4);

    using generic_method =
        stream_method<grpc::GenericServerContext, grpc::GenericServerAsyncReaderWriter,
                      grpc::ByteBuffer, grpc::ByteBuffer>;
    auto& generic = keep<generic_method>();
    generic.request = [this, q](grpc::GenericServerContext* c,
                                grpc::GenericServerAsyncReaderWriter* w, void*,
                                void* tag) { generic_.RequestCall(c, w, q, q, tag); };
    generic.open = [this](grpc::GenericServerContext* c, const void*) {
      return reflection_.open(c);
    };
    listen_stream(generic, 2);
  }

 private:
  template <class M>
  M& keep() {
    auto method = std::make_shared<M>();
    method->loop = &loop_;
    methods_.push_back(method);
    return *method;
  }

  template <class M>
  static void listen_stream(const M& method, int listeners) {
    for (int i = 0; i < listeners; ++i) M::call_type::listen(method);
  }

  template <class Request, class Response, class RequestFn, class HandleFn>
  void unary(grpc::ServerCompletionQueue* q, int listeners, RequestFn request, HandleFn handle) {
    using method_type = unary_method<Request, Response>;
    auto& m = keep<method_type>();
    m.request = [request, q](grpc::ServerContext* c, Request* r, typename method_type::writer* w,
                             void* tag) { request(c, r, w, q, q, tag); };
    m.handle = handle;
    for (int i = 0; i < listeners; ++i) unary_call<Request, Response>::listen(m);
  }

  template <class Request, class Response, class RequestFn, class OpenFn>
  void bidi(grpc::ServerCompletionQueue* q, int listeners, RequestFn request, OpenFn open) {
    using stream = grpc::ServerAsyncReaderWriter<Response, Request>;
    using method_type = stream_method<grpc::ServerContext, stream, Request, Response>;
    auto& m = keep<method_type>();
    m.request = [request, q](grpc::ServerContext* c, stream* s, void*, void* tag) {
      request(c, s, q, q, tag);
    };
    m.open = [open](grpc::ServerContext* c, const void*) { return open(c); };
    listen_stream(m, listeners);
  }

  broker_service& broker_;                               // Broker's handlers
  health_service& health_;                               // Health's handlers
  grpc_loop& loop_;                                      // every call's
  v1::Broker::AsyncService broker_async_;                // Broker's methods, async
  grpc::health::v1::Health::AsyncService health_async_;  // Health's methods, async
  grpc::AsyncGenericService generic_;                    // reflection, and unknown methods
  reflection_service reflection_;                        // grpc.reflection.v1alpha
  std::vector<std::shared_ptr<void>> methods_;           // every method's, for the calls' lifetime
};

grpc_server::grpc_server(asio::io_context& io, const config& cfg, metrics& m,
                         const target_set& targets, const memory_guard* memory)
    : config_(cfg),
      metrics_(m),
      service_(std::make_unique<broker_service>(targets, m, &unix_peers_, memory)),
      health_(std::make_unique<health_service>()),
      unix_(std::make_unique<unix_listener>(unix_peers_)),
      loop_(std::make_unique<grpc_loop>(io, cfg.server.hold_writes)),
      bindings_(std::make_unique<service_bindings>(*service_, *health_, *loop_)) {}

grpc_server::~grpc_server() {
  unix_->stop();
  if (server_ && serving_) {
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
  }
  loop_->stop();
}

void grpc_server::run() { loop_->run(); }

void grpc_server::start() {
  grpc::EnableDefaultHealthCheckService(false);
  if (config_.server.hold_writes && !held_writes::available()) {
    spdlog::info(
        "server.hold_writes: libgrpc is not a shared object in this build, so gRPC's "
        "writes are not held");
  }

  grpc::ServerBuilder builder;
  // Two sidecars must not silently share a port.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  const auto& server = config_.server;
  builder.SetMaxReceiveMessageSize(static_cast<int>(server.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(server.max_message_bytes));
  if (server.keepalive_time.count() > 0) {
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                               static_cast<int>(server.keepalive_time.count()));
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                               static_cast<int>(server.keepalive_timeout.count()));
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  }
  // Clients may ping as often as every 10 s without being told off.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);

  if (!config_.listen.grpc.empty()) {
    check_tcp_bindable(config_.listen.grpc);
    std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
    if (config_.listen.tls.enabled()) {
      tls_files_ = std::make_unique<server_tls_files>(config_.listen.tls);
      credentials = tls_files_->credentials();
    }
    builder.AddListeningPort(config_.listen.grpc, credentials, &port_);
  }
  // The Unix socket is ours (unix_listener): bound before gRPC starts, so
  // a bad path stops startup before anything serves.
  if (!config_.listen.unix_socket.empty()) unix_->bind(config_.listen);
  bindings_->register_with(builder);
  queue_ = builder.AddCompletionQueue();
  server_ = builder.BuildAndStart();
  if (!server_) {
    throw startup_error("listen: gRPC could not start on " + (config_.listen.grpc.empty()
                                                                  ? config_.listen.unix_socket
                                                                  : config_.listen.grpc));
  }
  bindings_->listen(queue_.get());
  try {
    loop_->start(*queue_);
  } catch (const std::runtime_error& e) {
    throw startup_error(e.what());
  }
  if (!config_.listen.unix_socket.empty()) unix_->start(*server_);
  health_->set("", true);
  // A target is SERVING only once its pool has reached it (target_set tells).
  for (const auto& target : config_.targets) {
    if (!health_->known(target.name)) set_target_health(target.name, false);
  }
  serving_ = true;
}

void grpc_server::set_target_health(const std::string& target, bool serving) {
  health_->set(target, serving);
}

bool grpc_server::target_healthy(const std::string& target) const {
  return health_->serving(target);
}

std::vector<std::pair<std::string, v1::SubscriptionStats>> grpc_server::subscriptions() const {
  return service_->subscriptions();
}

std::vector<caller_snapshot> grpc_server::callers() const { return service_->callers(); }

const client_table& grpc_server::clients() const { return service_->clients(); }

void grpc_server::shutdown(std::chrono::milliseconds grace, std::chrono::milliseconds drain_delay) {
  const auto deadline = std::chrono::system_clock::now() + grace;
  if (!server_ || !serving_.exchange(false)) return;
  // Refuse new calls with UNAVAILABLE before gRPC stops accepting, so a call
  // racing the shutdown learns it may retry elsewhere.
  service_->begin_drain();
  health_->shutdown();
  std::this_thread::sleep_for(std::min(drain_delay, grace));
  unix_->stop();
  server_->Shutdown(deadline);
  server_->Wait();
  loop_->stop();
  // The Recv streams ended by the drain stop their subscriptions in the
  // background; the pools must not close under them.
  if (!service_->wait_recv_stopped(deadline)) {
    spdlog::warn("Recv subscriptions still stopping at the end of the grace period");
  }
}

}  // namespace brokerside::sidecar
