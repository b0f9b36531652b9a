// The Redis connection handshake as a sans-io state machine: HELLO 3 (with
// AUTH and SETNAME), and on an error reply other than a refused login the
// RESP2 way (AUTH, CLIENT SETNAME); then SELECT. The session appends what it
// asks and feeds it the replies to those commands, in order.
#pragma once

#include <cstddef>
#include <string>
#include <system_error>

#include "protocol/redis/resp.h"

namespace brokerside::protocol::redis {

struct handshake_options {
  std::string user;         // ACL user; empty: "default"
  std::string password;     // empty: no AUTH
  int db = 0;               // SELECT when not 0
  std::string client_name;  // SETNAME when not empty
};

class handshake {
 public:
  enum class state { idle, awaiting_hello, awaiting_rest, done, failed };

  // What to do after an input. Commands appended to `out` are pipelined;
  // their replies come next, in order, one resume() each.
  struct action {
    std::size_t sent = 0;   // commands appended to `out`
    bool done = false;      // every reply is in: the connection is ready
    std::error_code error;  // errc::handshake_failed: close the connection
    std::string text;       // with `error`: the server's error reply
  };

  // `options` must outlive the handshake (the session holds both).
  explicit handshake(const handshake_options& options) noexcept : options_(options) {}

  // Appends HELLO 3 [AUTH user password] [SETNAME name].
  action start(std::string& out);

  // The reply to the oldest command this handshake sent.
  action resume(const value& reply, std::string& out);

  state current() const noexcept { return state_; }
  // 3 after a successful HELLO 3, else 2.
  int protocol() const noexcept { return protocol_; }

 private:
  action fail(std::string text);

  const handshake_options& options_;
  state state_ = state::idle;
  std::size_t left_ = 0;     // replies still owed in awaiting_rest
  std::string first_error_;  // the first error reply among them
  bool refused_ = false;     // one of them was an error reply
  int protocol_ = 2;
};

}  // namespace brokerside::protocol::redis
