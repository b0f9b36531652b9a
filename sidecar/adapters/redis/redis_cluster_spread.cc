#include "sidecar/adapters/redis/redis_cluster_spread.h"

#include "pool/errc.h"
#include "protocol/redis/cluster.h"
#include "sidecar/status.h"

namespace brokerside::sidecar {
namespace {

namespace redis = protocol::redis;
using spread_operation = operation_adapter::spread_operation;

grpc::Status unexpected(std::string_view what) {
  return to_status(pool::errc::broker_refused,
                   "redis: a master's reply to " + std::string(what) + " is not what Redis sends");
}

// The first reply that is an error, else the first: what "OK on each"
// commands answer.
grpc::Status first_error_or_first(std::vector<v1::SendResponse>& parts, v1::SendResponse& out) {
  auto* pick = &parts.front();
  for (auto& p : parts) {
    if (p.reply().has_error()) {
      pick = &p;
      break;
    }
  }
  out.Swap(pick);
  return grpc::Status::OK;
}

grpc::Status sum(std::vector<v1::SendResponse>& parts, v1::SendResponse& out) {
  std::int64_t total = 0;
  for (auto& p : parts) {
    if (p.reply().has_error()) return first_error_or_first(parts, out);
    if (!p.reply().has_integer()) return unexpected("DBSIZE");
    total += p.reply().integer();
  }
  out.mutable_reply()->set_integer(total);
  return grpc::Status::OK;
}

grpc::Status concatenate(std::vector<v1::SendResponse>& parts, v1::SendResponse& out) {
  auto& all = *out.mutable_reply()->mutable_array();
  for (auto& p : parts) {
    if (p.reply().has_error()) return first_error_or_first(parts, out);
    if (!p.reply().has_array()) return unexpected("KEYS");
    auto& values = *p.mutable_reply()->mutable_array()->mutable_values();
    for (auto& v : values) all.add_values()->Swap(&v);
  }
  return grpc::Status::OK;
}

grpc::Status all_true(std::vector<v1::SendResponse>& parts, v1::SendResponse& out) {
  for (auto& p : parts) {
    if (p.reply().has_error()) return first_error_or_first(parts, out);
    if (!p.reply().has_array() ||
        p.reply().array().values_size() != parts.front().reply().array().values_size()) {
      return unexpected("SCRIPT EXISTS");
    }
  }
  auto& values = *parts.front().mutable_reply()->mutable_array()->mutable_values();
  for (int i = 0; i < values.size(); ++i) {
    bool every = true;
    for (const auto& p : parts) every = every && p.reply().array().values(i).integer() == 1;
    values[i].set_integer(every ? 1 : 0);
  }
  out.Swap(&parts.front());
  return grpc::Status::OK;
}

}  // namespace

grpc::Status spread_on_cluster(const redis_cluster& cluster, const v1::SendRequest& request,
                               std::optional<spread_operation>& spread) {
  if (!request.has_command()) return grpc::Status::OK;
  const auto& given = request.command().args();
  const std::vector<std::string_view> args(given.begin(), given.end());
  const auto reach = redis::reach_of(args);
  if (reach == redis::cluster_reach::one_node) return grpc::Status::OK;
  auto masters = cluster.masters();
  if (masters.empty()) {
    return to_status(pool::errc::unavailable,
                     "redis: the cluster's slot map is not known yet; try again");
  }
  spread_operation s;
  if (reach == redis::cluster_reach::scan) {
    const auto cursor = args.size() > 1 ? redis::parse_scan_cursor(args[1]) : std::nullopt;
    if (!cursor || cursor->node >= masters.size()) {
      return to_status(pool::errc::invalid_operation,
                       "redis: SCAN's cursor on a Redis Cluster target is one this target gave "
                       "(its low 10 bits name the master), or 0 to begin");
    }
    auto& part = s.parts.emplace_back(
        spread_operation::part{std::move(masters[cursor->node].second), request});
    part.request.mutable_command()->set_args(1, std::to_string(cursor->node_cursor));
    s.combine = [node = cursor->node, count = masters.size()](std::vector<v1::SendResponse>& parts,
                                                              v1::SendResponse& out) {
      auto& reply = *parts.front().mutable_reply();
      if (reply.has_error()) return first_error_or_first(parts, out);
      if (!reply.has_array() || reply.array().values_size() != 2 ||
          !reply.array().values(0).has_bytes()) {
        return unexpected("SCAN");
      }
      auto& cursor = *reply.mutable_array()->mutable_values(0);
      const auto next = redis::next_scan_cursor(cursor.bytes(), node, count);
      if (!next) return unexpected("SCAN");
      cursor.set_bytes(std::to_string(*next));
      out.Swap(&parts.front());
      return grpc::Status::OK;
    };
    spread = std::move(s);
    return grpc::Status::OK;
  }
  for (auto& [address, p] : masters) s.parts.push_back({std::move(p), request});
  switch (reach) {
    case redis::cluster_reach::sum:
      s.combine = sum;
      break;
    case redis::cluster_reach::concatenate:
      s.combine = concatenate;
      break;
    case redis::cluster_reach::all_true:
      s.combine = all_true;
      break;
    default:
      s.combine = first_error_or_first;
      break;
  }
  spread = std::move(s);
  return grpc::Status::OK;
}

}  // namespace brokerside::sidecar
