// A fake protocol connection for tests of the pool and the sidecar: it
// "connects" on the next turn of the executor (or refuses, when the world
// says so), and counts what happens to it. No sockets.
#pragma once

#include <boost/asio/post.hpp>
#include <string>
#include <vector>

#include "pool/connection.h"

namespace brokerside::testing_support {

namespace asio = boost::asio;
using pool::broker_url;
using pool::connection;
using pool::connection_factory;
using pool::millis;

struct fake_world {
  bool refuse = false;             // connects fail
  int opened = 0;                  // connects that succeeded
  int closed = 0;                  // close() calls
  std::vector<std::string> hosts;  // URL host of each connect
};

class fake_connection final : public connection {
 public:
  fake_connection(asio::any_io_executor ex, fake_world& world, int id)
      : ex_(std::move(ex)), world_(world), id_(id) {}
  void connect(const broker_url& url, millis, completion done) override {
    world_.hosts.push_back(url.host);
    const auto ec =
        world_.refuse ? std::make_error_code(std::errc::connection_refused) : std::error_code{};
    if (!ec) ++world_.opened;
    asio::post(ex_, [done, ec] { done(ec); });
  }
  void health_check(completion done) override {
    asio::post(ex_, [done] { done({}); });
  }
  void close() override { ++world_.closed; }
  void on_lost(completion lost) override { lost_ = std::move(lost); }
  int id() const { return id_; }

 private:
  asio::any_io_executor ex_;
  fake_world& world_;
  int id_;
  completion lost_;
};

class fake_factory final : public connection_factory {
 public:
  explicit fake_factory(fake_world& world, std::uint32_t cap) : world_(world), cap_(cap) {}
  std::unique_ptr<connection> make(asio::any_io_executor ex) override {
    return std::make_unique<fake_connection>(std::move(ex), world_, ++made_);
  }
  std::uint32_t per_connection_cap() const override { return cap_; }

 private:
  fake_world& world_;
  std::uint32_t cap_;
  int made_ = 0;
};

}  // namespace brokerside::testing_support
