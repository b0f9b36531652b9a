// Redis Sentinel's client side: which server is a monitored primary now
// (SENTINEL GET-MASTER-ADDR-BY-NAME, asked of one sentinel over a connection
// of its own), whether a server says it is the primary (ROLE), and the
// +switch-master messages sentinels publish when a failover names another.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "protocol/endpoint.h"
#include "protocol/redis/connection.h"
#include "protocol/redis/resp.h"

namespace brokerside::protocol::redis {

struct server_address {
  std::string host;
  std::uint16_t port = 0;

  std::string text() const { return host + ":" + std::to_string(port); }
  bool operator==(const server_address&) const = default;
};

// GET-MASTER-ADDR-BY-NAME's answer ([host, port]), or nullopt (a null: the
// sentinel does not monitor that name).
std::optional<server_address> parse_master_address(const value& reply);

// Whether ROLE's answer says "master".
bool says_primary(const value& role_reply) noexcept;

// A +switch-master message: "<name> <old host> <old port> <new host> <new port>".
struct switch_master {
  std::string name;
  server_address from, to;
};
std::optional<switch_master> parse_switch_master(std::string_view message);

// Asks the sentinel `sentinel` says how to reach (its address, timeout,
// login if it asks for one) where primary `name` is. Completion:
// done(error, words, address) once, on `executor`, within the timeout: no
// error and the address; or the transport's error; or errc::refused with
// the sentinel's words (it does not know the name, or refused the
// question). The connection to the sentinel is closed either way.
void ask_sentinel(boost::asio::any_io_executor executor, connect_options sentinel, std::string name,
                  std::function<void(std::error_code, std::string, server_address)> done);

}  // namespace brokerside::protocol::redis
