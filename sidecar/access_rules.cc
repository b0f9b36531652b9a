#include "sidecar/access_rules.h"

#include <algorithm>

namespace brokerside::sidecar {
namespace {

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view lower_case, std::string_view text) noexcept {
  return lower_case.size() == text.size() &&
         std::equal(lower_case.begin(), lower_case.end(), text.begin(),
                    [](char a, char b) { return a == lower(b); });
}

bool matches(const command_rule& rule, std::string_view name, std::string_view sub,
             std::optional<std::uint64_t> categories) noexcept {
  switch (rule.what) {
    case command_rule::match::all:
      return true;
    case command_rule::match::category:
      return categories && (*categories & rule.category) != 0;
    case command_rule::match::command:
      return iequals(rule.name, name) && (rule.sub.empty() || iequals(rule.sub, sub));
  }
  return false;
}

// "'text': why" (built by appending: GCC 12's -Wrestrict misfires on a
// chain of operator+ at -O3).
std::string refusal(std::string_view text, std::string_view why) {
  std::string out = "'";
  out.append(text).append("': ").append(why);
  return out;
}

}  // namespace

std::string parse_command_rule(std::string_view text, std::span<const std::string_view> names,
                               command_rule& out) {
  out = {};
  if (text.size() < 2 || (text.front() != '+' && text.front() != '-')) {
    return refusal(text, "expected +NAME or -NAME (a command, COMMAND|SUBCOMMAND, @all or @CLASS)");
  }
  out.allow = text.front() == '+';
  std::string body;
  for (const char c : text.substr(1)) body += lower(c);
  if (body == "@all") {
    out.what = command_rule::match::all;
    return {};
  }
  if (body.front() == '@') {
    const auto it = std::find(names.begin(), names.end(), std::string_view(body).substr(1));
    if (it == names.end()) {
      if (names.empty()) return refusal(text, "this adapter has no command classes");
      std::string known = "no such class (@all";
      for (const auto n : names) known.append(", @").append(n);
      return refusal(text, known + ")");
    }
    out.what = command_rule::match::category;
    out.category = std::uint64_t{1} << (it - names.begin());
    return {};
  }
  const auto bar = body.find('|');
  out.what = command_rule::match::command;
  out.name = body.substr(0, bar);
  if (bar != std::string::npos) out.sub = body.substr(bar + 1);
  if (out.name.empty() || (bar != std::string::npos && out.sub.empty()) ||
      out.sub.find('|') != std::string::npos || body.find_first_of(" \t*") != std::string::npos) {
    return refusal(text, "expected a command name or COMMAND|SUBCOMMAND");
  }
  return {};
}

bool command_allowed(std::span<const command_rule> rules, std::string_view name,
                     std::string_view sub, std::optional<std::uint64_t> categories) noexcept {
  for (auto it = rules.rbegin(); it != rules.rend(); ++it) {
    if (matches(*it, name, sub, categories)) return it->allow;
  }
  return false;
}

bool glob_matches(std::string_view pattern, std::string_view text) noexcept {
  // Greedy with one backtrack point (the last '*'): linear in practice,
  // O(pattern × text) at worst, never exponential.
  std::size_t p = 0, t = 0, star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (p < pattern.size() && pattern[p] == text[t]) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

const access_rule* rule_for(std::span<const access_rule> rules, std::string_view who) noexcept {
  for (const auto& rule : rules) {
    for (const auto& pattern : rule.callers) {
      if (glob_matches(pattern, who)) return &rule;
    }
  }
  return nullptr;
}

}  // namespace brokerside::sidecar
