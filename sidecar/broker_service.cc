#include "sidecar/broker_service.h"

#include "pool/errc.h"
#include "sidecar/recv_reactor.h"
#include "sidecar/send_stream_reactor.h"
#include "sidecar/status.h"
#include "sidecar/version.h"

namespace brokerside::sidecar {
namespace {

grpc::Status adapter_missing(const pool::target_config& target) {
  return to_status(pool::errc::adapter_not_implemented,
                   "target '" + target.name + "': the " +
                       std::string(protocol::name(target.adapter())) +
                       " adapter is not implemented in this build (see the README status table)");
}

void set_duration(google::protobuf::Duration& out, std::chrono::nanoseconds d) {
  out.set_seconds(std::chrono::duration_cast<std::chrono::seconds>(d).count());
  out.set_nanos(static_cast<std::int32_t>((d % std::chrono::seconds(1)).count()));
}

// A bidirectional call refused before it starts (while draining).
template <typename Request, typename Response>
class refused_reactor final : public grpc::ServerBidiReactor<Request, Response> {
 public:
  explicit refused_reactor(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::Status broker_service::admission() const {
  if (!draining_.load(std::memory_order_relaxed)) return grpc::Status::OK;
  return to_status(pool::errc::shutting_down, "brokerside is shutting down");
}

broker_service::broker_service(const config& cfg, metrics& m) : config_(cfg), metrics_(m) {}

grpc::Status broker_service::find_target(const std::string& name,
                                         const pool::target_config*& out) const {
  if (name.empty()) {
    return to_status(pool::errc::invalid_operation, "target: required (a configured target name)");
  }
  out = config_.find_target(name);
  if (out != nullptr) return grpc::Status::OK;
  std::string known;
  for (const auto& target : config_.targets) known += (known.empty() ? "" : ", ") + target.name;
  return to_status(pool::errc::unknown_target,
                   "unknown target '" + name +
                       "' (configured: " + (known.empty() ? std::string("none") : known) + ")");
}

grpc::ServerUnaryReactor* broker_service::finish(grpc::CallbackServerContext* context,
                                                 rpc_method method, const grpc::Status& status) {
  metrics_.count_call(method, status.error_code());
  auto* reactor = context->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

grpc::Status broker_service::send(const v1::SendRequest& request, v1::SendResponse&) const {
  const pool::target_config* target = nullptr;
  if (auto status = find_target(request.target(), target); !status.ok()) return status;
  switch (request.operation_case()) {
    case v1::SendRequest::kCommand:
      if (request.command().args().empty()) {
        return to_status(pool::errc::invalid_operation, "command.args: empty");
      }
      break;
    case v1::SendRequest::kPublish:
    case v1::SendRequest::kRequest:
      break;
    case v1::SendRequest::OPERATION_NOT_SET:
      return to_status(pool::errc::invalid_operation,
                       "no operation: set one of command, publish, request");
  }
  if (!protocol::implemented(target->adapter())) return adapter_missing(*target);
  // Reached only once an adapter exists: the pool layer takes over here.
  return to_status(pool::errc::adapter_not_implemented, "operations need the pool layer");
}

grpc::ServerUnaryReactor* broker_service::Send(grpc::CallbackServerContext* context,
                                               const v1::SendRequest* request,
                                               v1::SendResponse* response) {
  if (auto status = admission(); !status.ok()) return finish(context, rpc_method::send, status);
  return finish(context, rpc_method::send, send(*request, *response));
}

grpc::ServerBidiReactor<v1::SendStreamRequest, v1::SendStreamResponse>* broker_service::SendStream(
    grpc::CallbackServerContext*) {
  if (auto status = admission(); !status.ok()) {
    metrics_.count_call(rpc_method::send_stream, status.error_code());
    return new refused_reactor<v1::SendStreamRequest, v1::SendStreamResponse>(status);
  }
  return new send_stream_reactor(*this, metrics_);
}

grpc::ServerBidiReactor<v1::RecvRequest, v1::RecvResponse>* broker_service::Recv(
    grpc::CallbackServerContext*) {
  if (auto status = admission(); !status.ok()) {
    metrics_.count_call(rpc_method::recv, status.error_code());
    return new refused_reactor<v1::RecvRequest, v1::RecvResponse>(status);
  }
  return new recv_reactor(
      [this](const v1::Subscribe& subscribe) {
        const pool::target_config* target = nullptr;
        if (auto status = find_target(subscribe.target(), target); !status.ok()) return status;
        if (subscribe.sources().empty() && target->adapter() != protocol::adapter_kind::framed) {
          return to_status(pool::errc::invalid_operation, "subscribe.sources: empty");
        }
        return adapter_missing(*target);
      },
      metrics_);
}

grpc::ServerUnaryReactor* broker_service::Acquire(grpc::CallbackServerContext* context,
                                                  const v1::AcquireRequest* request,
                                                  v1::AcquireResponse*) {
  if (auto status = admission(); !status.ok()) return finish(context, rpc_method::acquire, status);
  const pool::target_config* target = nullptr;
  auto status = find_target(request->target(), target);
  if (status.ok()) status = adapter_missing(*target);
  return finish(context, rpc_method::acquire, status);
}

grpc::ServerUnaryReactor* broker_service::Renew(grpc::CallbackServerContext* context,
                                                const v1::RenewRequest* request,
                                                v1::RenewResponse*) {
  // No adapter in this build can grant a lease, so no lease id is known.
  return finish(context, rpc_method::renew,
                to_status(pool::errc::unknown_lease, "unknown lease '" + request->lease() + "'"));
}

grpc::ServerUnaryReactor* broker_service::Release(grpc::CallbackServerContext* context,
                                                  const v1::ReleaseRequest* request,
                                                  v1::ReleaseResponse*) {
  return finish(context, rpc_method::release,
                to_status(pool::errc::unknown_lease, "unknown lease '" + request->lease() + "'"));
}

grpc::ServerUnaryReactor* broker_service::Stats(grpc::CallbackServerContext* context,
                                                const v1::StatsRequest* request,
                                                v1::StatsResponse* response) {
  if (auto status = admission(); !status.ok()) return finish(context, rpc_method::stats, status);
  if (!request->target().empty()) {
    const pool::target_config* target = nullptr;
    if (auto status = find_target(request->target(), target); !status.ok()) {
      return finish(context, rpc_method::stats, status);
    }
  }
  for (const auto& target : config_.targets) {
    if (!request->target().empty() && request->target() != target.name) continue;
    auto& out = *response->add_targets();
    out.set_name(target.name);
    out.set_adapter(std::string(protocol::name(target.adapter())));
    out.set_adapter_implemented(protocol::implemented(target.adapter()));
    for (const auto& url : target.urls) out.add_urls(url.redacted);
    // Without an adapter the target is never reachable.
    out.set_healthy(false);
    out.mutable_pool()->set_max_connections(target.pool.max_connections);
    out.mutable_pool()->set_min_idle(target.pool.min_idle);
  }
  set_duration(*response->mutable_uptime(), std::chrono::steady_clock::now() - metrics_.started());
  response->set_version(version);
  return finish(context, rpc_method::stats, grpc::Status::OK);
}

}  // namespace brokerside::sidecar
