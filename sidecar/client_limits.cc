#include "sidecar/client_limits.h"

#include <fmt/format.h>

#include <iterator>

#include "pool/errc.h"
#include "sidecar/status.h"

namespace brokerside::sidecar {

client_entry::~client_entry() { table_.forget(peer_); }

grpc::Status client_entry::begin_operation() {
  const auto most = table_.limits_.in_flight;
  if (in_flight_.fetch_add(1, std::memory_order_relaxed) < most || most == 0) return {};
  in_flight_.fetch_sub(1, std::memory_order_relaxed);
  table_.refused_in_flight_.fetch_add(1, std::memory_order_relaxed);
  return to_status(pool::errc::pool_exhausted,
                   "client " + peer_ + " has " + std::to_string(most) +
                       " operations in flight, its most (server.per_client.in_flight)");
}

client_stream& client_stream::operator=(client_stream&& other) noexcept {
  if (this != &other) {
    if (entry_) entry_->streams_.fetch_sub(1, std::memory_order_relaxed);
    entry_ = std::move(other.entry_);
  }
  return *this;
}

client_stream::~client_stream() {
  if (entry_) entry_->streams_.fetch_sub(1, std::memory_order_relaxed);
}

std::shared_ptr<client_entry> client_table::find(const std::string& peer) {
  auto& s = shard_of(peer);
  std::lock_guard lock(s.mutex);
  auto& slot = s.entries[peer];
  if (auto entry = slot.lock()) return entry;
  auto entry = std::make_shared<client_entry>(*this, peer);
  slot = entry;
  return entry;
}

// The last hold of `peer`'s entry went: drop its slot, unless a new entry
// took it meanwhile.
void client_table::forget(const std::string& peer) {
  auto& s = shard_of(peer);
  std::lock_guard lock(s.mutex);
  const auto it = s.entries.find(peer);
  if (it != s.entries.end() && it->second.expired()) s.entries.erase(it);
}

grpc::Status client_table::open_stream(const std::string& peer, client_stream& out) {
  auto entry = find(peer);
  const auto most = limits_.streams;
  if (entry->streams_.fetch_add(1, std::memory_order_relaxed) >= most && most != 0) {
    entry->streams_.fetch_sub(1, std::memory_order_relaxed);
    refused_streams_.fetch_add(1, std::memory_order_relaxed);
    return to_status(pool::errc::pool_exhausted,
                     "client " + peer + " has " + std::to_string(most) +
                         " streams open, its most (server.per_client.streams)");
  }
  out = client_stream(std::move(entry));
  return grpc::Status::OK;
}

std::size_t client_table::clients() const {
  std::size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s.mutex);
    n += s.entries.size();
  }
  return n;
}

void client_table::render(std::string& out) const {
  fmt::format_to(std::back_inserter(out),
                 "# HELP brokerside_client_limit Per-client limits (server.per_client; 0: none).\n"
                 "# TYPE brokerside_client_limit gauge\n"
                 "brokerside_client_limit{{limit=\"in_flight\"}} {}\n"
                 "brokerside_client_limit{{limit=\"streams\"}} {}\n"
                 "# HELP brokerside_client_limit_refusals_total Operations and streams refused "
                 "because their client (gRPC connection) was at a per-client limit.\n"
                 "# TYPE brokerside_client_limit_refusals_total counter\n"
                 "brokerside_client_limit_refusals_total{{limit=\"in_flight\"}} {}\n"
                 "brokerside_client_limit_refusals_total{{limit=\"streams\"}} {}\n"
                 "# HELP brokerside_clients Clients (gRPC connections) with a call or stream under "
                 "way.\n"
                 "# TYPE brokerside_clients gauge\n"
                 "brokerside_clients {}\n",
                 limits_.in_flight, limits_.streams, refused_in_flight(), refused_streams(),
                 clients());
}

}  // namespace brokerside::sidecar
