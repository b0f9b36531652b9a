// Who is at the other end of each connection to the gRPC Unix socket:
// brokerside accepts that socket itself and reads each connection's
// SO_PEERCRED (pid, uid, gid) before handing it to gRPC
// (grpc::AddInsecureChannelFromFd), since gRPC 1.51 shows a call neither
// the descriptor nor the credentials, only its peer as "fd:N". This table
// maps N back. An entry is written before gRPC owns the descriptor and the
// number cannot be reused while a call on it lives, so a call always finds
// its own connection's entry.
#pragma once

#include <sys/types.h>

#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace brokerside::sidecar {

struct unix_peer {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};

// The caller identity of a Unix peer: "unix:uid=U,gid=G".
std::string unix_identity(const unix_peer& peer);

class unix_peer_table {
 public:
  // Records the peer on descriptor `fd` (replacing a closed one's).
  void record(int fd, const unix_peer& peer);
  // The peer of a call whose gRPC peer string is `grpc_peer` ("fd:N"), or
  // nullopt for any other peer.
  std::optional<unix_peer> find(std::string_view grpc_peer) const;
  // For Stats' holders: "unix:pid=P,uid=U,gid=G" for such a peer, else
  // `grpc_peer` itself.
  std::string describe(const std::string& grpc_peer) const;

 private:
  mutable std::mutex mutex_;
  std::unordered_map<int, unix_peer> peers_;  // by descriptor
};

}  // namespace brokerside::sidecar
