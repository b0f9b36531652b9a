#include "protocol/redis/command_classes.h"

#include <algorithm>
#include <array>
#include <cstddef>

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

// `text` in lower case into `out`; false if longer than it.
template <std::size_t N>
bool lower(std::string_view text, std::array<char, N>& out, std::string_view& view) noexcept {
  if (text.size() > N) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    out[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  }
  view = std::string_view(out.data(), text.size());
  return true;
}

const entry* find(std::string_view name, std::string_view sub) noexcept {
  const auto it =
      std::lower_bound(std::begin(table), std::end(table), std::pair{name, sub},
                       [](const entry& e, const auto& key) {
                         return e.name < key.first || (e.name == key.first && e.sub < key.second);
                       });
  return it != std::end(table) && it->name == name && it->sub == sub ? it : nullptr;
}

}  // namespace

std::span<const std::string_view> category_names() noexcept { return names; }

std::optional<std::uint64_t> command_categories(std::string_view name,
                                                std::string_view sub) noexcept {
  std::array<char, 32> name_buffer, sub_buffer;
  std::string_view lower_name, lower_sub;
  if (!lower(name, name_buffer, lower_name)) return std::nullopt;
  const entry* command = find(lower_name, {});
  if (command == nullptr) return std::nullopt;
  if (!sub.empty() && lower(sub, sub_buffer, lower_sub)) {
    if (const entry* subcommand = find(lower_name, lower_sub)) return subcommand->categories;
  }
  return command->categories;
}

}  // namespace brokerside::protocol::redis
