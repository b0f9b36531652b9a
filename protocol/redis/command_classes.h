// The ACL categories Redis files each command under (@read, @dangerous,
// @admin, ...), from redis-server's own COMMAND table, so that rules can
// allow or deny classes of commands as Redis ACLs do. Pure lookups.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace brokerside::protocol::redis {

// The categories, bit i of a mask being category_names()[i] (ACL CAT's).
std::span<const std::string_view> category_names() noexcept;

// The categories of command `name`, or of its subcommand `sub` when the
// command has one of that name (CONFIG GET is @admin @slow @dangerous,
// CONFIG alone @slow); nullopt for a command Redis 7.0 does not have (a
// module's). Case-insensitive.
std::optional<std::uint64_t> command_categories(std::string_view name,
                                                std::string_view sub) noexcept;

}  // namespace brokerside::protocol::redis
