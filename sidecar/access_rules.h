// What each caller may reach on a target (targets.NAME.rules): the first
// rule whose callers match the caller applies; its `destinations` (what it
// may publish to, request from and receive from) and `commands` (Redis ACL
// style: "+@read", "-@dangerous", "-flushall", "+config|get"), when set,
// bound it. Parsed once at load; matched per call without allocating.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace brokerside::sidecar {

// One item of a rule's `commands`.
struct command_rule {
  enum class match { all, category, command };
  bool allow = false;          // '+' or '-'
  match what = match::all;     // @all, @CATEGORY, or a command
  std::uint64_t category = 0;  // its bit, for match::category
  std::string name, sub;       // lower case, for match::command; sub empty: all of its subcommands
};

struct access_rule {
  std::string path;                                      // "targets.cache.rules[0]", for messages
  std::vector<std::string> callers;                      // identity patterns ('*' globs)
  std::optional<std::vector<std::string>> destinations;  // '*' globs; unset: any
  std::optional<std::vector<command_rule>> commands;     // unset: any command
};

// Parses one command rule with the adapter's class names (bit i = names[i];
// empty: the adapter has none, so "@..." other than "@all" is refused).
// Empty on success, else why not. Pure.
std::string parse_command_rule(std::string_view text, std::span<const std::string_view> names,
                               command_rule& out);

// Whether `rules` let command `name` (subcommand `sub`, maybe empty) with
// `categories` (nullopt: unknown to the adapter) run: the last rule that
// matches it decides, as in a Redis ACL; none matching: denied. Pure.
bool command_allowed(std::span<const command_rule> rules, std::string_view name,
                     std::string_view sub, std::optional<std::uint64_t> categories) noexcept;

// Whether `text` matches `pattern`, where '*' stands for any run of
// characters (also none) and every other character for itself. Pure.
bool glob_matches(std::string_view pattern, std::string_view text) noexcept;

// The rule of `rules` that applies to caller `who`, or null.
const access_rule* rule_for(std::span<const access_rule> rules, std::string_view who) noexcept;

}  // namespace brokerside::sidecar
