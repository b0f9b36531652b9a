// What Redis commands do to the connection they run on, for callers that
// share pipelined connections: which block it or change its state for later
// commands (they need a connection of their own), which switch its protocol
// (never on a shared one), which only read (safe to run again after a
// connection loss), and which error replies mean "not run; try again soon".
// Command names compare case-insensitively.
#pragma once

#include <string_view>

namespace brokerside::protocol::redis {

// Whether `a` and `b` are equal ignoring ASCII case.
bool iequals(std::string_view a, std::string_view b) noexcept;

// SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, MONITOR, SYNC, PSYNC, QUIT, RESET, HELLO:
// the connection speaks another protocol (or is gone) afterwards.
bool changes_protocol(std::string_view name) noexcept;

// Whether `name` is a subscribe command (served by Recv instead).
bool is_subscribe(std::string_view name) noexcept;

// Blocking pops, WAIT, transactions, WATCH, SELECT, CLIENT, XREADGROUP: the
// command blocks its connection or changes its state for the commands after it.
bool blocks_or_changes_state(std::string_view name) noexcept;

// The same for a whole argv (`args[0]` the name), which also catches
// XREAD ... BLOCK ms. `Args` is a range of string-like values.
template <typename Args>
bool needs_own_connection(const Args& args) {
  auto it = args.begin();
  if (it == args.end()) return false;
  const std::string_view name = *it;
  if (blocks_or_changes_state(name)) return true;
  if (!iequals(name, "XREAD")) return false;
  for (++it; it != args.end(); ++it) {
    if (iequals(*it, "BLOCK")) return true;
  }
  return false;
}

// Read-only commands: running one again after a connection loss is harmless.
bool is_read_only(std::string_view name) noexcept;

// Error replies by which a server refuses every command for a while without
// running it: loading its data after a restart (LOADING), a script running
// too long (BUSY), a replica without its master (MASTERDOWN), a multi-key
// command while its cluster slot moves (TRYAGAIN), a cluster that cannot
// serve the slot now (CLUSTERDOWN).
bool refused_for_now(std::string_view error) noexcept;

}  // namespace brokerside::protocol::redis
