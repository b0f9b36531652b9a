// What a Recv stream holds of a Redis pub/sub subscription: stopping it (or
// dropping it) has its owner (a subscriber hub, the shard channels) forget
// listener `id`, on the owner's strand, then calls `then`. Pub/sub has
// nothing to settle and no credit to pass on (the stream's buffer bounds it).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

#include "sidecar/operation_adapter.h"

namespace brokerside::sidecar {

template <typename Owner, void (Owner::*Leave)(std::uint64_t)>
class redis_pubsub_handle final : public subscription {
 public:
  redis_pubsub_handle(std::weak_ptr<Owner> owner, boost::asio::any_io_executor strand,
                      std::uint64_t id)
      : owner_(std::move(owner)), strand_(std::move(strand)), id_(id) {}
  ~redis_pubsub_handle() override { leave({}); }

  void settle(std::uint64_t, bool, bool) override {}
  void set_credit(std::uint32_t) override {}
  void stop(std::function<void()> then) override { leave(std::move(then)); }

 private:
  void leave(std::function<void()> then) {
    auto owner = std::exchange(owner_, {}).lock();
    if (!owner) {
      if (then) then();
      return;
    }
    boost::asio::post(strand_, [owner, id = id_, then = std::move(then)] {
      ((*owner).*Leave)(id);
      if (then) then();
    });
  }

  std::weak_ptr<Owner> owner_;           // empty once left
  boost::asio::any_io_executor strand_;  // the owner's
  std::uint64_t id_;
};

}  // namespace brokerside::sidecar
