#include "protocol/redis/commands.h"

#include <algorithm>
#include <array>

namespace brokerside::protocol::redis {
namespace {

template <std::size_t N>
bool one_of(std::string_view name, const std::array<std::string_view, N>& names) noexcept {
  return std::any_of(names.begin(), names.end(),
                     [name](std::string_view n) { return iequals(name, n); });
}

constexpr std::array<std::string_view, 18> blocking_or_stateful{
    "BLPOP",    "BRPOP",  "BLMOVE",  "BRPOPLPUSH", "BLMPOP", "BZPOPMIN",
    "BZPOPMAX", "BZMPOP", "WAIT",    "WAITAOF",    "MULTI",  "EXEC",
    "DISCARD",  "WATCH",  "UNWATCH", "SELECT",     "CLIENT", "XREADGROUP"};

constexpr std::array<std::string_view, 9> protocol_changing{
    "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "MONITOR", "SYNC", "PSYNC", "QUIT", "RESET", "HELLO"};

constexpr std::array<std::string_view, 3> subscribing{"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"};

constexpr std::array<std::string_view, 40> read_only{
    "GET",   "MGET",   "EXISTS",   "TTL",       "PTTL",          "TYPE",       "STRLEN", "GETRANGE",
    "HGET",  "HMGET",  "HGETALL",  "HEXISTS",   "HLEN",          "HKEYS",      "HVALS",  "LRANGE",
    "LLEN",  "LINDEX", "SMEMBERS", "SISMEMBER", "SCARD",         "SMISMEMBER", "ZRANGE", "ZSCORE",
    "ZCARD", "ZRANK",  "ZREVRANK", "ZCOUNT",    "ZRANGEBYSCORE", "PING",       "ECHO",   "DBSIZE",
    "INFO",  "TIME",   "SCAN",     "HSCAN",     "SSCAN",         "ZSCAN",      "XRANGE", "XLEN"};

char upper(char c) noexcept { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return upper(x) == upper(y); });
}

bool changes_protocol(std::string_view name) noexcept { return one_of(name, protocol_changing); }

bool is_subscribe(std::string_view name) noexcept { return one_of(name, subscribing); }

bool blocks_or_changes_state(std::string_view name) noexcept {
  return one_of(name, blocking_or_stateful);
}

bool is_read_only(std::string_view name) noexcept { return one_of(name, read_only); }

bool refused_for_now(std::string_view error) noexcept {
  for (const std::string_view prefix :
       {"LOADING ", "BUSY ", "MASTERDOWN ", "TRYAGAIN ", "CLUSTERDOWN "}) {
    if (error.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

}  // namespace brokerside::protocol::redis
