#include "protocol/redis/command_keys.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <iterator>

#include "protocol/redis/cluster.h"
#include "protocol/redis/command_table.h"
#include "protocol/redis/commands.h"

namespace brokerside::protocol::redis {
namespace {

struct entry {
  std::string_view name;  // lower case
  std::string_view sub;   // lower case; empty for the command itself
  int first, last, step;  // COMMAND's key positions (last < 0: from the end)
  bool movable;           // the arguments say where (see movable_keys)
  bool parent;            // its subcommands have the positions
};

// Sorted by (name, sub).
constexpr entry table[] = {
#include "protocol/redis/command_keys_table.inc"
};

// Gathers keys one by one into a command_slot.
class slot_gatherer {
 public:
  void add(std::string_view key) noexcept {
    const auto slot = key_slot(key);
    if (out_.what == command_slot::kind::keyless) {
      out_ = {command_slot::kind::one, slot, 0, key, {}};
    } else if (out_.what == command_slot::kind::one && slot != out_.slot) {
      out_.what = command_slot::kind::crossing;
      out_.other_slot = slot;
      out_.other = key;
    }
  }
  command_slot result() const noexcept { return out_; }

 private:
  command_slot out_;
};

std::size_t count_at(std::span<const std::string_view> args, std::size_t i) noexcept {
  if (i >= args.size()) return 0;
  std::size_t n = 0;
  const auto [end, ec] = std::from_chars(args[i].data(), args[i].data() + args[i].size(), n);
  return ec == std::errc{} && end == args[i].data() + args[i].size() ? n : 0;
}

// `n` keys from position `from`, as far as the arguments go.
void add_run(std::span<const std::string_view> args, std::size_t from, std::size_t n,
             slot_gatherer& keys) noexcept {
  for (std::size_t i = from; i < args.size() && i < from + n; ++i) keys.add(args[i]);
}

// The key after `word` (SORT ... STORE dest, GEORADIUS ... STOREDIST dest).
void add_after(std::span<const std::string_view> args, std::size_t from, std::string_view word,
               slot_gatherer& keys) noexcept {
  for (std::size_t i = from; i + 1 < args.size(); ++i) {
    if (iequals(args[i], word)) keys.add(args[i + 1]);
  }
}

// The commands COMMAND flags movablekeys in Redis 7.0.
void movable_keys(std::string_view name, std::span<const std::string_view> args,
                  slot_gatherer& keys) noexcept {
  // numkeys at 1, the keys after it.
  for (const std::string_view c :
       {"zintercard", "sintercard", "zinter", "zdiff", "zunion", "lmpop", "zmpop"}) {
    if (name == c) return add_run(args, 2, count_at(args, 1), keys);
  }
  // numkeys at 2 (a script or timeout at 1).
  for (const std::string_view c :
       {"eval", "eval_ro", "evalsha", "evalsha_ro", "fcall", "fcall_ro", "blmpop", "bzmpop"}) {
    if (name == c) return add_run(args, 3, count_at(args, 2), keys);
  }
  // A destination at 1, numkeys at 2.
  for (const std::string_view c : {"zdiffstore", "zinterstore", "zunionstore"}) {
    if (name == c) {
      if (args.size() > 1) keys.add(args[1]);
      return add_run(args, 3, count_at(args, 2), keys);
    }
  }
  if (name == "xread" || name == "xreadgroup") {
    // ... STREAMS key [key ...] id [id ...]: the first half after STREAMS.
    for (std::size_t i = 1; i < args.size(); ++i) {
      if (iequals(args[i], "STREAMS")) return add_run(args, i + 1, (args.size() - i - 1) / 2, keys);
    }
    return;
  }
  if (name == "migrate") {
    // host port key|"" db timeout ... [KEYS key ...]
    if (args.size() > 3 && !args[3].empty()) return keys.add(args[3]);
    for (std::size_t i = 6; i < args.size(); ++i) {
      if (iequals(args[i], "KEYS")) return add_run(args, i + 1, args.size(), keys);
    }
    return;
  }
  if (args.size() > 1) keys.add(args[1]);  // sort, sort_ro, georadius, georadiusbymember
  if (name == "sort") add_after(args, 2, "STORE", keys);
  if (name == "georadius" || name == "georadiusbymember") {
    add_after(args, 2, "STORE", keys);
    add_after(args, 2, "STOREDIST", keys);
  }
}

}  // namespace

command_slot slot_of(std::span<const std::string_view> args) noexcept {
  if (args.empty()) return {command_slot::kind::unknown};
  command_table::name_buffer name_buffer, sub_buffer;
  std::string_view name, sub;
  if (!command_table::lower(args[0], name_buffer, name)) return {command_slot::kind::unknown};
  const entry* e = command_table::find(table, name, {});
  if (e == nullptr) return {command_slot::kind::unknown};
  if (e->parent) {
    if (args.size() < 2 || !command_table::lower(args[1], sub_buffer, sub)) return {};
    e = command_table::find(table, name, sub);
    if (e == nullptr) return {command_slot::kind::unknown};
  }
  slot_gatherer keys;
  if (e->movable) {
    movable_keys(name, args, keys);
  } else if (e->first > 0) {
    const auto n = static_cast<int>(args.size());
    const int last = e->last < 0 ? n + e->last : std::min(e->last, n - 1);
    for (int i = e->first; i <= last && i < n; i += std::max(e->step, 1)) keys.add(args[i]);
  }
  return keys.result();
}

}  // namespace brokerside::protocol::redis
