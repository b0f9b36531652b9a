#include "sidecar/broker_service.h"

#include "pool/errc.h"
#include "sidecar/caller_metrics.h"
#include "sidecar/recv_reactor.h"
#include "sidecar/send_call.h"
#include "sidecar/send_stream_reactor.h"
#include "sidecar/status.h"
#include "sidecar/version.h"

namespace brokerside::sidecar {
namespace {

void set_duration(google::protobuf::Duration& out, std::chrono::nanoseconds d) {
  out.set_seconds(std::chrono::duration_cast<std::chrono::seconds>(d).count());
  out.set_nanos(static_cast<std::int32_t>((d % std::chrono::seconds(1)).count()));
}

pool::millis to_millis(const google::protobuf::Duration& d) {
  return pool::millis(d.seconds() * 1000 + d.nanos() / 1'000'000);
}

// A bidirectional call refused before it starts (while draining).
template <typename Request, typename Response>
class refused_reactor final : public bidi_reactor<Request, Response> {
 public:
  explicit refused_reactor(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

grpc::Status broker_service::admission() const {
  if (!draining_.load(std::memory_order_relaxed)) return grpc::Status::OK;
  return to_status(pool::errc::shutting_down, "brokerside is shutting down");
}

broker_service::broker_service(const target_set& targets, metrics& m,
                               const unix_peer_table* unix_peers, const memory_guard* memory)
    : targets_(targets),
      metrics_(m),
      unix_peers_(unix_peers),
      memory_(memory),
      auth_(targets.configuration(), unix_peers),
      calls_(targets, auth_, memory),
      clients_(targets.configuration().server.per_client) {}

grpc::Status broker_service::work_admission() const {
  if (auto status = admission(); !status.ok()) return status;
  return memory_ ? memory_->admit() : grpc::Status::OK;
}

grpc::Status broker_service::admit_stream(const grpc::ServerContextBase& context, std::string& who,
                                          stream_slot& slot) {
  if (auto status = work_admission(); !status.ok()) return status;
  if (auto status = auth_.identify(context, who); !status.ok()) return status;
  if (auto status = auth_.callers().open_stream(who, slot); !status.ok()) return status;
  client_stream client;
  if (auto status = clients_.open_stream(context.peer(), client); !status.ok()) return status;
  slot.hold(std::move(client));
  return grpc::Status::OK;
}

std::string broker_service::holder_of(const grpc::ServerContextBase& context) const {
  return unix_peers_ ? unix_peers_->describe(context.peer()) : context.peer();
}

void broker_service::begin_drain() {
  draining_ = true;
  recv_streams_.end_all(to_status(
      pool::errc::shutting_down,
      "brokerside is shutting down; subscribe again (deliveries not acked are requeued)"));
}

void broker_service::finish(unary_reactor* reactor, rpc_method method, const grpc::Status& status) {
  metrics_.count_call(method, status.error_code());
  reactor->Finish(status);
}

// The caller's gRPC deadline on the pool's clock; a call without one gets a
// day, so only the pool's own limits (acquire_timeout, retries) bound it.
pool::time_point broker_service::deadline_of(const grpc::ServerContextBase& context) {
  const auto now = pool::clock::now();
  const auto deadline = context.deadline();
  const auto left = deadline - std::chrono::system_clock::now();
  if (deadline == std::chrono::system_clock::time_point::max() || left > std::chrono::hours(24)) {
    return now + std::chrono::hours(24);
  }
  return now + std::chrono::duration_cast<pool::millis>(left);
}

void broker_service::Send(grpc::ServerContext* context, const v1::SendRequest* request,
                          v1::SendResponse* response, unary_reactor* reactor) {
  if (auto status = admission(); !status.ok()) return finish(reactor, rpc_method::send, status);
  call_info info;
  if (auto status = auth_.identify(*context, info.who); !status.ok()) {
    return finish(reactor, rpc_method::send, status);
  }
  info.trace = calls_.trace_of(context->client_metadata());
  info.client = clients_.find(context->peer());
  calls_.run(*request, *response, deadline_of(*context), info,
             [this, reactor](grpc::Status status) {
               metrics_.count_call(rpc_method::send, status.error_code());
               reactor->Finish(status);
             });
}

bidi_reactor<v1::SendStreamRequest, v1::SendStreamResponse>* broker_service::SendStream(
    grpc::ServerContext* context) {
  std::string who;
  stream_slot slot;
  if (auto status = admit_stream(*context, who, slot); !status.ok()) {
    metrics_.count_call(rpc_method::send_stream, status.error_code());
    return new refused_reactor<v1::SendStreamRequest, v1::SendStreamResponse>(status);
  }
  call_info info{std::move(who), calls_.trace_of(context->client_metadata()), slot.client(),
                 std::make_shared<pool::caller_gone>()};
  return new send_stream_reactor(calls_, metrics_, deadline_of(*context), std::move(info),
                                 std::move(slot));
}

bidi_reactor<v1::RecvRequest, v1::RecvResponse>* broker_service::Recv(
    grpc::ServerContext* context) {
  std::string who;
  stream_slot slot;
  if (auto status = admit_stream(*context, who, slot); !status.ok()) {
    metrics_.count_call(rpc_method::recv, status.error_code());
    return new refused_reactor<v1::RecvRequest, v1::RecvResponse>(status);
  }
  return new recv_reactor(
      [this, who](const v1::Subscribe& subscribe, target_set::entry& out) {
        // A stream opened before the drain may subscribe after it began.
        if (auto status = admission(); !status.ok()) return status;
        target_set::entry target;
        if (auto status = calls_.find_target(subscribe.target(), target); !status.ok())
          return status;
        if (auto status = auth_.authorize_recv(*target.config, subscribe, who); !status.ok())
          return status;
        if (!target.pool || !target.operations) return adapter_missing(target);
        if (auto status = target.operations->check_subscribe(subscribe); !status.ok()) {
          if (status.error_code() != grpc::StatusCode::UNIMPLEMENTED) return status;
          return to_status(pool::errc::adapter_not_implemented,
                           "target '" + target.config->name +
                               "': Recv is not implemented for the " +
                               std::string(target.config->adapter->name) +
                               " adapter yet (see the README status table)");
        }
        out = target;
        return grpc::Status::OK;
      },
      metrics_, recv_streams_, holder_of(*context), std::move(slot));
}

void broker_service::Acquire(grpc::ServerContext* context, const v1::AcquireRequest* request,
                             v1::AcquireResponse* response, unary_reactor* reactor) {
  if (auto status = work_admission(); !status.ok()) {
    return finish(reactor, rpc_method::acquire, status);
  }
  std::string who;
  if (auto status = auth_.identify(*context, who); !status.ok()) {
    return finish(reactor, rpc_method::acquire, status);
  }
  target_set::entry target;
  if (auto status = calls_.find_target(request->target(), target); !status.ok()) {
    return finish(reactor, rpc_method::acquire, status);
  }
  if (auto status = auth_.authorize(*target.config, call_kind::acquire, who); !status.ok()) {
    return finish(reactor, rpc_method::acquire, status);
  }
  if (!target.pool) return finish(reactor, rpc_method::acquire, adapter_missing(target));
  auto pool = target.pool;  // a node's, where the target's nodes have their own
  std::string tag;
  if (auto status = target.operations->route_acquire(*request, pool, tag); !status.ok()) {
    return finish(reactor, rpc_method::acquire, status);
  }
  const auto ttl = to_millis(request->ttl());
  if (ttl.count() < 0 || ttl > target.config->lease.max_ttl) {
    return finish(reactor, rpc_method::acquire,
                  to_status(pool::errc::invalid_operation,
                            "ttl: must be between 0 (the default) and the target's max_ttl (" +
                                std::to_string(target.config->lease.max_ttl.count()) + " ms)"));
  }
  pool->acquire_lease(
      ttl, holder_of(*context), deadline_of(*context),
      [this, reactor, response, name = request->target(), pool, tag](
          std::error_code ec, pool::target_pool::lease_grant grant) {
        if (!ec) {
          response->set_lease(
              target_set::client_lease_id(name, tag.empty() ? grant.id : tag + "/" + grant.id));
          set_duration(*response->mutable_ttl(), grant.ttl);
        }
        const auto status =
            ec ? to_status(ec,
                           with_connect_error("target '" + name + "': " + ec.message(), ec, *pool))
               : grpc::Status::OK;
        metrics_.count_call(rpc_method::acquire, status.error_code());
        reactor->Finish(status);
      });
}

void broker_service::Renew(grpc::ServerContext* context, const v1::RenewRequest* request,
                           v1::RenewResponse* response, unary_reactor* reactor) {
  std::string who;
  if (auto status = auth_.identify(*context, who); !status.ok()) {
    return finish(reactor, rpc_method::renew, status);
  }
  const auto found = targets_.find_lease(request->lease());
  if (!found) {
    return finish(reactor, rpc_method::renew,
                  to_status(pool::errc::unknown_lease, lease_error({}, request->lease())));
  }
  const auto ttl = to_millis(request->ttl());
  if (ttl.count() < 0) {
    return finish(reactor, rpc_method::renew,
                  to_status(pool::errc::invalid_operation, "ttl: must not be negative"));
  }
  found->first.pool->renew(
      found->second, ttl,
      [this, reactor, response, lease = request->lease()](std::error_code ec, pool::millis ttl) {
        if (!ec) set_duration(*response->mutable_ttl(), ttl);
        grpc::Status status = grpc::Status::OK;
        if (ec == pool::errc::invalid_operation) {
          status = to_status(ec, "ttl: above the target's max_ttl");
        } else if (ec) {
          status = to_status(ec, lease_error(ec, lease));
        }
        metrics_.count_call(rpc_method::renew, status.error_code());
        reactor->Finish(status);
      });
}

void broker_service::Release(grpc::ServerContext* context, const v1::ReleaseRequest* request,
                             v1::ReleaseResponse*, unary_reactor* reactor) {
  std::string who;
  if (auto status = auth_.identify(*context, who); !status.ok()) {
    return finish(reactor, rpc_method::release, status);
  }
  const auto found = targets_.find_lease(request->lease());
  if (!found) {
    return finish(reactor, rpc_method::release,
                  to_status(pool::errc::unknown_lease, lease_error({}, request->lease())));
  }
  found->first.pool->release(found->second, request->discard(),
                             [this, reactor, lease = request->lease()](std::error_code ec) {
                               const auto status =
                                   ec ? to_status(ec, lease_error(ec, lease)) : grpc::Status::OK;
                               metrics_.count_call(rpc_method::release, status.error_code());
                               reactor->Finish(status);
                             });
}

void broker_service::Stats(grpc::ServerContext* context, const v1::StatsRequest* request,
                           v1::StatsResponse* response, unary_reactor* reactor) {
  if (auto status = admission(); !status.ok()) return finish(reactor, rpc_method::stats, status);
  std::string who;
  if (auto status = auth_.identify(*context, who); !status.ok()) {
    return finish(reactor, rpc_method::stats, status);
  }
  if (!request->target().empty()) {
    target_set::entry target;
    if (auto status = calls_.find_target(request->target(), target); !status.ok()) {
      return finish(reactor, rpc_method::stats, status);
    }
  }
  targets_.stats([this, reactor, response,
                  only = request->target()](std::map<std::string, pool::target_stats> pools) {
    auto streams = recv_streams_.describe_all();
    for (const auto& target : targets_.configuration().targets) {
      if (!only.empty() && only != target.name) continue;
      auto& out = *response->add_targets();
      fill_target_stats(target, pools, out);
      if (const auto entry = targets_.find(target.name)) {
        fill_latencies(*entry, out);
        if (entry->operations) {
          out.set_subscriber_connections(
              static_cast<std::uint32_t>(entry->operations->subscriber_connections()));
        }
      }
      for (auto& [name, stream] : streams) {
        if (name == target.name) *out.add_subscriptions() = std::move(stream);
      }
    }
    set_duration(*response->mutable_uptime(),
                 std::chrono::steady_clock::now() - metrics_.started());
    response->set_version(version);
    if (only.empty()) fill_caller_stats(auth_.callers().snapshot(), *response);
    auto& limits = *response->mutable_client_limits();
    limits.set_in_flight(clients_.limits().in_flight);
    limits.set_streams(clients_.limits().streams);
    limits.set_clients(static_cast<std::uint32_t>(clients_.clients()));
    limits.set_refused_in_flight(clients_.refused_in_flight());
    limits.set_refused_streams(clients_.refused_streams());
    metrics_.count_call(rpc_method::stats, grpc::StatusCode::OK);
    reactor->Finish(grpc::Status::OK);
  });
}

namespace {

void fill_histogram(const pool::latency_histogram::snapshot& s, v1::Histogram& out) {
  for (const auto b : pool::latency_histogram::bounds) out.add_bounds_seconds(b);
  for (const auto n : s.counts) out.add_counts(n);
  out.set_count(s.count);
  out.set_sum_seconds(s.sum_seconds);
}

}  // namespace

void broker_service::fill_latencies(const target_set::entry& target, v1::TargetStats& out) {
  auto& latencies = *out.mutable_latencies();
  const auto& observed = *target.observed;
  for (std::size_t k = 0; k < target_observations::kind_names.size(); ++k) {
    fill_histogram(observed.calls[k].read(),
                   latencies[std::string("call.") + target_observations::kind_names[k]]);
  }
  fill_histogram(observed.settle.read(), latencies["recv.settle"]);
  if (target.pool) {
    fill_histogram(target.pool->wait_latency().read(), latencies["pool.wait"]);
    fill_histogram(target.pool->round_trip_latency().read(), latencies["broker.round_trip"]);
  }
  out.set_bytes_to_broker(observed.bytes_to_broker.load(std::memory_order_relaxed));
  out.set_bytes_from_broker(observed.bytes_from_broker.load(std::memory_order_relaxed));
}

namespace {

void fill_pool_stats(const pool::target_stats& s, v1::PoolStats& pool, v1::Counters& c) {
  pool.set_connecting(s.pool.connecting);
  pool.set_idle(s.pool.idle + s.pool.checking);
  pool.set_in_use(s.pool.busy);
  pool.set_leased(s.pool.leased);
  pool.set_waiters(s.pool.waiters);
  pool.set_in_flight(s.pool.in_flight);
  c.set_operations(s.operations);
  c.set_operation_errors(s.operation_errors);
  c.set_connects(s.pool.counters.connects);
  c.set_connect_failures(s.pool.counters.connect_failures);
  c.set_disconnects(s.pool.counters.disconnects);
  c.set_write_pauses(s.pool.counters.write_pauses);
  c.set_stalled(s.pool.counters.stalled);
  c.set_retries(s.retries);
  c.set_retry_budget_exhausted(s.retry_budget_exhausted);
  c.set_pool_exhausted(s.pool.counters.pool_exhausted);
  c.set_leases_acquired(s.leases_acquired);
  c.set_leases_reclaimed(s.leases_reclaimed);
  c.set_deliveries_dropped(s.deliveries_dropped);
  c.set_dead_lettered(s.dead_lettered);
  c.set_acks_refused(s.acks_refused);
  c.set_redirects(s.redirects);
  c.set_cancelled(s.cancelled);
}

}  // namespace

void broker_service::fill_target_stats(const target_settings& target,
                                       const std::map<std::string, pool::target_stats>& pools,
                                       v1::TargetStats& out) {
  out.set_name(target.name);
  out.set_adapter(std::string(target.adapter->name));
  out.set_adapter_implemented(target.adapter->implemented());
  for (const auto& url : target.urls) out.add_urls(url.redacted);
  auto& pool = *out.mutable_pool();
  pool.set_max_connections(target.pool.max_connections);
  pool.set_min_idle(target.pool.min_idle);
  const auto it = pools.find(target.name);
  if (it == pools.end()) return;  // no pool: never reachable
  const auto& s = it->second;
  // Those the broker told of, after the configured ones.
  for (std::size_t i = target.urls.size(); i < s.urls.size(); ++i) out.add_urls(s.urls[i]);
  out.set_healthy(s.healthy);
  out.set_breaker(static_cast<v1::BreakerState>(s.breaker));
  fill_pool_stats(s, pool, *out.mutable_counters());
  for (const auto& n : s.nodes) {
    auto& node = *out.add_nodes();
    node.set_address(n.node);
    node.set_serves(n.serves);
    node.set_healthy(n.healthy);
    node.set_breaker(static_cast<v1::BreakerState>(n.breaker));
    node.mutable_pool()->set_max_connections(target.pool.max_connections);
    node.mutable_pool()->set_min_idle(target.pool.min_idle);
    fill_pool_stats(n, *node.mutable_pool(), *node.mutable_counters());
  }
  const auto now = pool::clock::now();
  for (const auto& n : s.connections) {
    static constexpr const char* states[] = {"connecting", "idle", "in_use", "leased", "checking"};
    auto& conn = *out.add_connections();
    conn.set_id(n.id);
    conn.set_url(n.url < s.urls.size() ? s.urls[n.url] : "");
    conn.set_state(states[static_cast<int>(n.state)]);
    conn.set_in_flight(n.in_flight);
    if (const auto q = s.queued.find(n.id); q != s.queued.end()) conn.set_queued(q->second);
    set_duration(*conn.mutable_age(), now - n.created);
    if (n.state == pool::node_state::idle) set_duration(*conn.mutable_idle(), now - n.since);
  }
  for (const auto& l : s.leases) {
    auto& lease = *out.add_leases();
    lease.set_lease(target_set::client_lease_id(target.name, l.id));
    lease.set_holder(l.holder);
    set_duration(*lease.mutable_age(), l.age);
    set_duration(*lease.mutable_ttl_remaining(), l.ttl_remaining);
    lease.set_connection_id(l.connection_id);
  }
}

}  // namespace brokerside::sidecar
