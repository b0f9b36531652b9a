#include "sidecar/unix_peers.h"

#include <charconv>

namespace brokerside::sidecar {

std::string unix_identity(const unix_peer& peer) {
  return "unix:uid=" + std::to_string(peer.uid) + ",gid=" + std::to_string(peer.gid);
}

void unix_peer_table::record(int fd, const unix_peer& peer) {
  std::lock_guard lock(mutex_);
  peers_[fd] = peer;
}

std::optional<unix_peer> unix_peer_table::find(std::string_view grpc_peer) const {
  if (!grpc_peer.starts_with("fd:")) return std::nullopt;
  int fd = -1;
  const auto digits = grpc_peer.substr(3);
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), fd);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  std::lock_guard lock(mutex_);
  const auto it = peers_.find(fd);
  if (it == peers_.end()) return std::nullopt;
  return it->second;
}

std::string unix_peer_table::describe(const std::string& grpc_peer) const {
  const auto peer = find(grpc_peer);
  if (!peer) return grpc_peer;
  return "unix:pid=" + std::to_string(peer->pid) + ",uid=" + std::to_string(peer->uid) +
         ",gid=" + std::to_string(peer->gid);
}

}  // namespace brokerside::sidecar
