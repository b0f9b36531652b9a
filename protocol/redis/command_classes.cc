#include "protocol/redis/command_classes.h"

#include <algorithm>
#include <array>
#include <cstddef>

#include "protocol/redis/command_table.h"

namespace brokerside::protocol::redis {
namespace {

struct entry {
  std::string_view name;  // lower case
  std::string_view sub;   // lower case; empty for the command itself
  std::uint64_t categories;
};

// Sorted by (name, sub).
constexpr entry table[] = {
#include "protocol/redis/command_classes_table.inc"
};

constexpr std::string_view names[] = {
    "keyspace", "read",   "write",       "set",       "sortedset",  "list",        "hash",
    "string",   "bitmap", "hyperloglog", "geo",       "stream",     "pubsub",      "admin",
    "fast",     "slow",   "blocking",    "dangerous", "connection", "transaction", "scripting"};

}  // namespace

std::span<const std::string_view> category_names() noexcept { return names; }

std::optional<std::uint64_t> command_categories(std::string_view name,
                                                std::string_view sub) noexcept {
  command_table::name_buffer name_buffer, sub_buffer;
  std::string_view lower_name, lower_sub;
  if (!command_table::lower(name, name_buffer, lower_name)) return std::nullopt;
  const entry* command = command_table::find(table, lower_name, {});
  if (command == nullptr) return std::nullopt;
  if (!sub.empty() && command_table::lower(sub, sub_buffer, lower_sub)) {
    if (const entry* subcommand = command_table::find(table, lower_name, lower_sub)) {
      return subcommand->categories;
    }
  }
  return command->categories;
}

}  // namespace brokerside::protocol::redis
