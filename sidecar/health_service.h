// grpc.health.v1.Health, our own rather than gRPC's built-in one, because the
// built-in Watch streams stay open through a shutdown and so hold the drain
// for its whole grace period. Here shutdown() tells every watcher NOT_SERVING
// and ends its stream.
#pragma once

#include <map>
#include <mutex>
#include <set>
#include <string>

#include "grpc/health/v1/health.grpc.pb.h"
#include "sidecar/async_calls.h"

namespace brokerside::sidecar {

class health_service final {
 public:
  using serving_status = grpc::health::v1::HealthCheckResponse::ServingStatus;

  class watcher;

  // The methods of grpc.health.v1.Health (grpc_server binds them).
  void Check(grpc::ServerContext* context, const grpc::health::v1::HealthCheckRequest* request,
             grpc::health::v1::HealthCheckResponse* response, unary_reactor* reactor);
  write_reactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::ServerContext* context, const grpc::health::v1::HealthCheckRequest* request);

  // Sets a service's status ("" is the sidecar itself) and tells its
  // watchers. Ignored after shutdown().
  void set(const std::string& service, bool serving);

  // Whether a status was ever set for the service.
  bool known(const std::string& service) const;

  // Whether the service is SERVING.
  bool serving(const std::string& service) const;

  // Every service turns NOT_SERVING, every watcher is told so and its
  // stream ends. Later set() calls are ignored.
  void shutdown();

 private:
  friend class watcher;
  serving_status status_locked(const std::string& service) const;
  void forget(watcher* w);

  mutable std::mutex mutex_;                        // guards everything below
  std::map<std::string, serving_status> statuses_;  // by service name
  std::set<watcher*> watchers_;                     // open Watch streams
  bool shut_down_ = false;                          // shutdown() was called
};

}  // namespace brokerside::sidecar
