#include "sidecar/send_call.h"

#include <chrono>
#include <mutex>
#include <optional>

#include "pool/errc.h"
#include "sidecar/memory_guard.h"
#include "sidecar/metrics.h"
#include "sidecar/status.h"

namespace brokerside::sidecar {
namespace {

// An operation's own fields, checked before its target's adapter sees it.
grpc::Status check_operation(const v1::SendRequest& request) {
  switch (request.operation_case()) {
    case v1::SendRequest::kCommand:
      if (request.command().args().empty()) {
        return to_status(pool::errc::invalid_operation, "command.args: empty");
      }
      return grpc::Status::OK;
    case v1::SendRequest::kPublish:
    case v1::SendRequest::kRequest:
      return grpc::Status::OK;
    case v1::SendRequest::OPERATION_NOT_SET:
      break;
  }
  return to_status(pool::errc::invalid_operation,
                   "no operation: set one of command, publish, request");
}

target_observations::kind kind_of(const v1::SendRequest& request) {
  switch (request.operation_case()) {
    case v1::SendRequest::kPublish:
      return target_observations::kind::publish;
    case v1::SendRequest::kRequest:
      return target_observations::kind::request;
    default:
      return target_observations::kind::command;
  }
}

// The operation's encoded size, for bytes_to_broker.
std::uint64_t operation_bytes(const v1::SendRequest& request) {
  switch (request.operation_case()) {
    case v1::SendRequest::kCommand:
      return request.command().ByteSizeLong();
    case v1::SendRequest::kPublish:
      return request.publish().ByteSizeLong();
    case v1::SendRequest::kRequest:
      return request.request().ByteSizeLong();
    default:
      return 0;
  }
}

// Runs every part of `spread` through its node's pool until `deadline`, at
// once: done with the first failure's error and words, or with none once
// `combine` has put the parts' responses together in `response`.
void run_spread(std::shared_ptr<const operation_adapter> adapter,
                operation_adapter::spread_operation spread, bool idempotent,
                pool::time_point deadline, std::shared_ptr<v1::SendResponse> response,
                const std::shared_ptr<pool::caller_gone>& gone,
                pool::target_pool::outcome_fn done) {
  struct state {
    std::mutex mutex;  // the parts end on their pools' threads
    operation_adapter::spread_operation spread;
    std::vector<v1::SendResponse> responses;
    std::size_t left = 0;
    std::error_code error;
    std::string detail;
    pool::target_pool::outcome_fn done;
  };
  auto s = std::make_shared<state>();
  s->spread = std::move(spread);
  s->responses.resize(s->spread.parts.size());
  s->left = s->spread.parts.size();
  s->done = std::move(done);
  for (std::size_t i = 0; i < s->spread.parts.size(); ++i) {
    auto attempt = [adapter, s, i](pool::connection& conn, boost::asio::cancellation_slot cancel,
                                   pool::target_pool::attempt_done attempt_done) {
      adapter->attempt(s->spread.parts[i].request, conn, cancel,
                       [s, i, attempt_done = std::move(attempt_done)](attempt_outcome outcome) {
                         if (!outcome.result.error) {
                           std::lock_guard lock(s->mutex);
                           s->responses[i].Swap(&outcome.response);
                         }
                         attempt_done(std::move(outcome.result));
                       });
    };
    s->spread.parts[i].pool->execute(
        std::move(attempt), idempotent, deadline,
        [s, response](std::error_code ec, std::string detail) {
          std::unique_lock lock(s->mutex);
          if (ec && !s->error) {
            s->error = ec;
            s->detail = std::move(detail);
          }
          if (--s->left != 0) return;
          if (!s->error) {
            if (auto status = s->spread.combine(s->responses, *response); !status.ok()) {
              s->error = make_error_code(pool::errc::broker_refused);
              s->detail = status.error_message();
            }
          }
          lock.unlock();
          s->done(s->error, std::move(s->detail));
        },
        gone);
  }
}

}  // namespace

grpc::Status adapter_missing(const target_set::entry& target) {
  const auto& name = target.config->name;
  if (!target.missing.empty()) {
    return to_status(pool::errc::adapter_not_implemented,
                     "target '" + name + "': " + target.missing);
  }
  return to_status(pool::errc::adapter_not_implemented,
                   "target '" + name + "': the " + std::string(target.config->adapter->name) +
                       " adapter is not implemented in this build (see the README status table)");
}

std::string with_connect_error(std::string message, std::error_code ec,
                               const pool::target_pool& pool) {
  if (ec != pool::errc::unavailable && ec != pool::errc::circuit_open &&
      ec != pool::errc::access_refused) {
    return message;
  }
  if (auto why = pool.last_connect_error(); !why.empty()) {
    message += " (last connect error: " + why + ")";
  }
  return message;
}

std::string lease_error(std::error_code ec, const std::string& lease) {
  return ec == pool::errc::lease_expired
             ? "lease '" + lease + "' expired; its connection was reclaimed"
             : "unknown lease '" + lease + "'";
}

grpc::Status send_call::find_target(const std::string& name, target_set::entry& out) const {
  const target_set::entry* found = nullptr;
  auto status = find_target(name, found);
  if (status.ok()) out = *found;
  return status;
}

grpc::Status send_call::find_target(const std::string& name, const target_set::entry*& out) const {
  if (name.empty()) {
    return to_status(pool::errc::invalid_operation, "target: required (a configured target name)");
  }
  if ((out = targets_.find(name)) != nullptr) return grpc::Status::OK;
  std::string known;
  for (const auto& target : targets_.configuration().targets) {
    known += (known.empty() ? "" : ", ") + target.name;
  }
  return to_status(pool::errc::unknown_target,
                   "unknown target '" + name +
                       "' (configured: " + (known.empty() ? std::string("none") : known) + ")");
}

void send_call::run(const v1::SendRequest& given, v1::SendResponse& response,
                    pool::time_point deadline, const call_info& info,
                    std::function<void(grpc::Status)> done) const {
  const auto& who = info.who;
  if (memory_ != nullptr) {
    if (auto status = memory_->admit(); !status.ok()) return done(status);
  }
  // A publish or request in a trace goes out with its context in the
  // message's headers: a copy of the request then (only then) carries them.
  const v1::SendRequest* effective = &given;
  std::shared_ptr<v1::SendRequest> traced;
  if (!info.trace.empty() && (given.has_publish() || given.has_request())) {
    const auto& message =
        given.has_publish() ? given.publish().message() : given.request().message();
    if (!message.headers().contains("traceparent")) {
      traced = std::make_shared<v1::SendRequest>(given);
      add_trace_headers(info.trace, traced->has_publish()
                                        ? *traced->mutable_publish()->mutable_message()
                                        : *traced->mutable_request()->mutable_message());
      effective = traced.get();
    }
  }
  const auto& request = *effective;
  const target_set::entry* found = nullptr;
  if (auto status = find_target(request.target(), found); !status.ok()) return done(status);
  const auto& target = *found;
  if (auto status = check_operation(request); !status.ok()) return done(status);
  if (auto status = auth_.authorize_send(*target.config, request, who); !status.ok()) {
    return done(status);
  }
  if (!target.pool || !target.operations) return done(adapter_missing(target));
  const bool leased = !request.lease().empty();
  if (auto status = target.operations->check(request, leased); !status.ok()) return done(status);

  // The node's pool, where the target's nodes have their own (Redis Cluster).
  auto routed = target.pool;
  std::optional<operation_adapter::spread_operation> spread;
  if (!leased) {
    if (auto status = target.operations->spread(request, spread); !status.ok()) return done(status);
    if (!spread) {
      if (auto status = target.operations->route(request, routed); !status.ok()) {
        return done(status);
      }
    }
  }
  std::optional<std::pair<target_set::entry, std::string>> lease;
  if (leased) {
    lease = targets_.find_lease(request.lease());
    if (!lease) {
      return done(to_status(pool::errc::unknown_lease, lease_error({}, request.lease())));
    }
    if (lease->first.config != target.config) {
      return done(to_status(
          pool::errc::invalid_operation,
          "lease '" + request.lease() + "' belongs to target '" + lease->first.config->name + "'"));
    }
  }

  if (leased) routed = lease->first.pool;  // the pool that granted it (a node's, on a cluster)

  // The last attempt's response, held by the attempts' callbacks: an
  // outcome after the deadline lands here, never in the caller's response.
  auto last = std::make_shared<v1::SendResponse>();
  auto attempt = [adapter = target.operations, request = &request, last, traced](
                     pool::connection& conn, boost::asio::cancellation_slot cancel,
                     pool::target_pool::attempt_done attempt_done) {
    adapter->attempt(*request, conn, cancel,
                     [last, attempt_done = std::move(attempt_done)](attempt_outcome outcome) {
                       if (!outcome.result.error) last->Swap(&outcome.response);
                       attempt_done(std::move(outcome.result));
                     });
  };
  const auto bytes = operation_bytes(request);
  if (info.client) {
    if (auto status = info.client->begin_operation(); !status.ok()) return done(status);
  }
  std::shared_ptr<operation_slot> slot;  // the caller's quota hold, if callers are tracked
  if (auto status = auth_.callers().admit_operation(who, bytes, slot); !status.ok()) {
    if (info.client) info.client->end_operation();
    return done(status);
  }
  const auto kind = kind_of(request);
  target.observed->bytes_to_broker.fetch_add(bytes, std::memory_order_relaxed);
  const bool logged = access_.sampled(info.trace);
  auto finish = [this, done = std::move(done), last, &response, &name = target.config->name,
                 pool = routed, observed = target.observed, kind, logged, slot,
                 client = info.client, caller = logged ? info.who : std::string(),
                 trace_id = logged ? std::string(info.trace.trace_id()) : std::string(),
                 started = std::chrono::steady_clock::now()](std::error_code ec,
                                                             std::string detail) {
    const auto elapsed = std::chrono::steady_clock::now() - started;
    observed->call(kind).record(elapsed);
    if (slot) slot->release();
    if (client) client->end_operation();
    grpc::Status status;
    if (!ec) {
      response.Swap(last.get());
      observed->bytes_from_broker.fetch_add(response.ByteSizeLong(), std::memory_order_relaxed);
    } else {
      const bool broker_words = !detail.empty() && ec != pool::errc::deadline_exceeded;
      status =
          to_status(ec, with_connect_error(broker_words ? std::move(detail)
                                                        : "target '" + name + "': " + ec.message(),
                                           ec, *pool));
    }
    if (logged) {
      access_.write({trace_id, caller, name,
                     target_observations::kind_names[static_cast<std::size_t>(kind)],
                     status_code_name(status.error_code()), status.error_message(), elapsed});
    }
    done(std::move(status));
  };
  if (!leased) {
    const bool idempotent = request.idempotent() || target.operations->idempotent(request);
    if (spread) {
      return run_spread(target.operations, std::move(*spread), idempotent, deadline, last,
                        info.gone, std::move(finish));
    }
    routed->execute(std::move(attempt), idempotent, deadline, std::move(finish), info.gone);
    return;
  }
  routed->execute_leased(lease->second, std::move(attempt), deadline,
                         [finish = std::move(finish), lease_id = request.lease()](
                             std::error_code ec, std::string detail) {
                           if (ec == pool::errc::lease_expired || ec == pool::errc::unknown_lease) {
                             detail = lease_error(ec, lease_id);
                           }
                           finish(ec, std::move(detail));
                         });
}

}  // namespace brokerside::sidecar
