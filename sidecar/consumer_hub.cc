#include "sidecar/consumer_hub.h"

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <future>
#include <mutex>

#include "pool/errc.h"
#include "sidecar/status.h"

namespace brokerside::sidecar {

namespace asio = boost::asio;

// What a Recv stream holds: its consumer on the current connection of its
// link (none while that is down), and what restarts it there.
class consumer_hub::handle final : public subscription,
                                   public std::enable_shared_from_this<handle> {
 public:
  handle(std::weak_ptr<consumer_hub> hub, const v1::Subscribe& subscribe, std::uint32_t credit,
         subscription_events events)
      : hub_(std::move(hub)), subscribe_(subscribe), events_(std::move(events)), credit_(credit) {}

  // Dropped without stop(): leave the link (its consumer, dropped with
  // it, closes its channel).
  ~handle() override {
    if (left_) return;
    if (auto hub = hub_.lock()) {
      asio::post(hub->strand_, [hub, link = link, key = this] { hub->carried_[link].erase(key); });
    }
  }

  void settle(std::uint64_t tag, bool ack, bool requeue) override {
    // The consumer of the moment: a tag of a lost connection goes to that
    // connection's consumer, which can do nothing with it, never to its
    // successor (whose tags start again at 1).
    if (auto c = current()) c->settle(tag, ack, requeue);
  }

  // What the consumer can do, as it said when it last started (the same
  // every time: it is the adapter's).
  bool delays_redelivery() const override { return delays_.load(std::memory_order_relaxed); }

  void requeue_after(std::uint64_t tag, std::chrono::nanoseconds delay) override {
    if (auto c = current()) c->requeue_after(tag, delay);
  }

  void in_progress(std::uint64_t tag) override {
    if (auto c = current()) c->in_progress(tag);
  }

  void reply(std::uint64_t tag, const v1::Reply& answer) override {
    if (auto c = current()) c->reply(tag, answer);
  }

  void set_credit(std::uint32_t credit) override {
    std::shared_ptr<subscription> c;
    {
      std::lock_guard lock(mutex_);
      credit_ = credit;
      c = consumer_;
    }
    if (c) c->set_credit(credit);
  }

  void stop(std::function<void()> then) override {
    auto hub = hub_.lock();
    if (!hub || left_.exchange(true)) return then();
    asio::post(hub->strand_, [hub, self = shared_from_this(), then = std::move(then)] {
      hub->leave(*self);
      if (auto c = self->take()) return c->stop(then);
      then();
    });
  }

  void fill_stats(v1::SubscriptionStats& out) const override {
    if (auto c = current()) c->fill_stats(out);
  }

  // On the strand: its link is up on `conn`.
  void attach(pool::connection& conn, const start_fn& start) {
    std::uint32_t credit;
    {
      std::lock_guard lock(mutex_);
      credit = credit_;
    }
    auto c = start(conn, subscribe_, credit, events_);
    if (c) delays_.store(c->delays_redelivery(), std::memory_order_relaxed);
    std::lock_guard lock(mutex_);
    consumer_ = std::move(c);
  }

  // On the strand: it cannot be carried; the stream ends with `status`.
  void fail(grpc::Status status) { events_.failed(std::move(status)); }

  // On the strand: its link went down; what it handed out is void.
  void detach() {
    if (!take()) return;
    events_.restarting();
  }

  // On the strand, before any attach: the link it is on.
  std::size_t link = 0;

 private:
  std::shared_ptr<subscription> current() const {
    std::lock_guard lock(mutex_);
    return consumer_;
  }
  std::shared_ptr<subscription> take() {
    std::lock_guard lock(mutex_);
    return std::exchange(consumer_, nullptr);
  }

  std::weak_ptr<consumer_hub> hub_;
  const v1::Subscribe subscribe_;
  subscription_events events_;
  std::atomic<bool> left_{false};           // stop() was called
  std::atomic<bool> delays_{false};         // the consumer's delays_redelivery()
  mutable std::mutex mutex_;                // guards the two below (settles come from gRPC threads)
  std::uint32_t credit_;                    // the latest, for a restart
  std::shared_ptr<subscription> consumer_;  // null while its link is down
};

consumer_hub::consumer_hub(std::shared_ptr<const target_settings> target,
                           std::shared_ptr<pool::connection_factory> factory,
                           asio::any_io_executor executor, std::size_t max_connections,
                           std::size_t per_connection, std::string settings, start_fn start)
    : target_(std::move(target)),
      strand_(asio::make_strand(std::move(executor))),
      per_connection_(per_connection),
      settings_(std::move(settings)),
      start_(std::move(start)),
      links_(*target_, std::move(factory), strand_, max_connections,
             {.up = [this](std::size_t index, std::uint64_t,
                           pool::connection& conn) { up(index, conn); },
              .down = [this](std::size_t index) { down(index); }}),
      carried_(max_connections) {}

std::shared_ptr<subscription> consumer_hub::subscribe(const v1::Subscribe& subscribe,
                                                      std::uint32_t credit,
                                                      subscription_events events) {
  auto h = std::make_shared<handle>(weak_from_this(), subscribe, credit, std::move(events));
  asio::post(strand_, [self = shared_from_this(), weak = std::weak_ptr<handle>(h)] {
    if (auto h = weak.lock()) self->join(h);
  });
  return h;
}

void consumer_hub::join(const std::shared_ptr<handle>& h) {
  if (stopped_) return;
  // The least loaded link with room; the first ones fill before a new one
  // opens only as far as they are lighter.
  std::size_t best = carried_.size();
  for (std::size_t i = 0; i < carried_.size(); ++i) {
    if (carried_[i].size() >= per_connection_) continue;
    if (best == carried_.size() || carried_[i].size() < carried_[best].size()) best = i;
  }
  if (best == carried_.size()) {
    return h->fail(to_status(pool::errc::pool_exhausted,
                             "target '" + target_->name + "' carries " +
                                 std::to_string(carried_.size() * per_connection_) +
                                 " Recv streams, its most (" + settings_ + ")"));
  }
  h->link = best;
  carried_[best].emplace(h.get(), h);
  if (auto* conn = links_.up(best)) return h->attach(*conn, start_);
  links_.want(best);
}

void consumer_hub::leave(const handle& h) { carried_[h.link].erase(&h); }

void consumer_hub::up(std::size_t index, pool::connection& conn) {
  for (auto& [key, weak] : carried_[index]) {
    if (auto h = weak.lock()) h->attach(conn, start_);
  }
}

void consumer_hub::down(std::size_t index) {
  for (auto& [key, weak] : carried_[index]) {
    if (auto h = weak.lock()) h->detach();
  }
}

void consumer_hub::stop() {
  auto done = std::make_shared<std::promise<void>>();
  asio::post(strand_, [self = shared_from_this(), done] {
    self->stopped_ = true;
    self->links_.close();
    for (auto& carried : self->carried_) carried.clear();
    done->set_value();
  });
  done->get_future().wait_for(std::chrono::seconds(2));
}

}  // namespace brokerside::sidecar
