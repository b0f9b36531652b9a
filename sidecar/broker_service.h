// The brokerside.v1.Broker service: translates gRPC calls into operations on
// the configured targets and their outcomes back into responses and statuses.
// No protocol code here; each method is a small reactor (sidecar/async_calls.h)
// that never blocks its thread.
#pragma once

#include <atomic>

#include "brokerside/v1/brokerside.grpc.pb.h"
#include "sidecar/async_calls.h"
#include "sidecar/caller_auth.h"
#include "sidecar/memory_guard.h"
#include "sidecar/metrics.h"
#include "sidecar/recv_registry.h"
#include "sidecar/send_call.h"
#include "sidecar/target_set.h"

namespace brokerside::sidecar {

class broker_service final {
 public:
  // `targets`, `m` and `unix_peers` (null: no Unix socket) must outlive the
  // service.
  broker_service(const target_set& targets, metrics& m, const unix_peer_table* unix_peers = nullptr,
                 const memory_guard* memory = nullptr);

  // The methods of brokerside.v1.Broker (grpc_server binds them).
  void Send(grpc::ServerContext* context, const v1::SendRequest* request,
            v1::SendResponse* response, unary_reactor* reactor);
  bidi_reactor<v1::SendStreamRequest, v1::SendStreamResponse>* SendStream(
      grpc::ServerContext* context);
  bidi_reactor<v1::RecvRequest, v1::RecvResponse>* Recv(grpc::ServerContext* context);
  void Acquire(grpc::ServerContext* context, const v1::AcquireRequest* request,
               v1::AcquireResponse* response, unary_reactor* reactor);
  void Renew(grpc::ServerContext* context, const v1::RenewRequest* request,
             v1::RenewResponse* response, unary_reactor* reactor);
  void Release(grpc::ServerContext* context, const v1::ReleaseRequest* request,
               v1::ReleaseResponse* response, unary_reactor* reactor);
  void Stats(grpc::ServerContext* context, const v1::StatsRequest* request,
             v1::StatsResponse* response, unary_reactor* reactor);

  // From now on new calls fail with UNAVAILABLE ("shutting down"); calls in
  // flight, and operations on streams already open, go on, except Recv
  // streams: those end now with UNAVAILABLE (subscribe again elsewhere), and
  // what their clients had not acked goes back to the broker.
  void begin_drain();

  // Waits until the subscriptions of ended Recv streams have stopped (AMQP:
  // the broker confirmed the channel's close), or until `deadline`; whether
  // they all did. Call it before the pools close.
  bool wait_recv_stopped(std::chrono::system_clock::time_point deadline) {
    return recv_streams_.wait_idle(deadline);
  }

  // Every open Recv stream as Stats shows it, with its target's name.
  std::vector<std::pair<std::string, v1::SubscriptionStats>> subscriptions() const {
    return recv_streams_.describe_all();
  }

  // Every caller identity's figures (sidecar/caller_table.h).
  std::vector<caller_snapshot> callers() const { return auth_.callers().snapshot(); }

  // Every client's (gRPC connection's) counts under server.per_client.
  const client_table& clients() const noexcept { return clients_; }

  // The caller's gRPC deadline on the pool's clock (a day if none).
  static pool::time_point deadline_of(const grpc::ServerContextBase& context);

 private:
  void finish(unary_reactor* reactor, rpc_method method, const grpc::Status& status);

  static void fill_target_stats(const target_settings& target,
                                const std::map<std::string, pool::target_stats>& pools,
                                v1::TargetStats& out);
  // The target's latency histograms and byte counts.
  static void fill_latencies(const target_set::entry& target, v1::TargetStats& out);
  // Admits a new SendStream or Recv stream: not draining nor above
  // max_memory, its caller named (`who`), within its stream quota and its
  // client's stream limit (`slot` holds the stream until the reactor ends).
  grpc::Status admit_stream(const grpc::ServerContextBase& context, std::string& who,
                            stream_slot& slot);
  // How Stats names the holder of a stream or lease opened by `context`.
  std::string holder_of(const grpc::ServerContextBase& context) const;
  // The status new calls get while draining, or OK.
  grpc::Status admission() const;
  // The same for new work (streams, leases): also refused above
  // server.max_memory.
  grpc::Status work_admission() const;

  const target_set& targets_;          // targets and their pools; immutable after startup
  metrics& metrics_;                   // call counters
  const unix_peer_table* unix_peers_;  // who is on each Unix socket connection, or null
  const memory_guard* memory_;         // server.max_memory, or null
  caller_auth auth_;                   // who calls, and whether they may
  send_call calls_;                    // Send and SendStream operations
  client_table clients_;               // per gRPC connection: server.per_client
  std::atomic<bool> draining_{false};  // set by begin_drain()
  recv_registry recv_streams_;         // open Recv streams, which a drain ends
};

}  // namespace brokerside::sidecar
