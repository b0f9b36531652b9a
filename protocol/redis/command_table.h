// What the tables generated from Redis's COMMAND share (command_classes,
// command_keys): a command or subcommand name lower-cased into a small
// buffer, and a lookup by (name, subcommand) in a table sorted by them.
#pragma once

#include <algorithm>
#include <array>
#include <iterator>
#include <string_view>
#include <utility>

namespace brokerside::protocol::redis::command_table {

using name_buffer = std::array<char, 32>;  // longer than any command's name

// `text` in lower case, in `out`; false if it does not fit.
inline bool lower(std::string_view text, name_buffer& out, std::string_view& view) noexcept {
  if (text.size() > out.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    out[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  }
  view = std::string_view(out.data(), text.size());
  return true;
}

// The entry of (`name`, `sub`) (lower case; `sub` empty for the command
// itself) in `table`, sorted by them; null if none. Entries have `name`
// and `sub`.
template <typename Entry, std::size_t N>
const Entry* find(const Entry (&table)[N], std::string_view name, std::string_view sub) noexcept {
  const auto it =
      std::lower_bound(std::begin(table), std::end(table), std::pair{name, sub},
                       [](const Entry& e, const auto& key) {
                         return e.name < key.first || (e.name == key.first && e.sub < key.second);
                       });
  return it != std::end(table) && it->name == name && it->sub == sub ? it : nullptr;
}

}  // namespace brokerside::protocol::redis::command_table
