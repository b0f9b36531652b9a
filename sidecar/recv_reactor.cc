#include "sidecar/recv_reactor.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <chrono>
#include <random>
#include <string>

#include "pool/errc.h"
#include "protocol/lazy_deque.h"
#include "sidecar/status.h"
#include "sidecar/trace_context.h"

namespace brokerside::sidecar {

// What pool callbacks share with the reactor. They hold it, not the
// reactor, which gRPC deletes when the call is done; `reactor` is null from
// then on and every callback checks it under `mutex`.
struct recv_reactor::state : std::enable_shared_from_this<state>,
                             recv_registry::member,
                             subscription_sink {
  std::mutex mutex;
  recv_reactor* reactor = nullptr;
  target_set::entry target;
  v1::Subscribe subscribe;
  std::string peer;                                  // the client, for Stats
  std::chrono::steady_clock::time_point subscribed;  // for Stats
  std::uint32_t credit = default_credit;             // most responses buffered
  // front() is being written; no storage while empty (most streams of a
  // node are idle most of the time).
  protocol::lazy_deque<v1::RecvResponse> outbox;
  bool writing = false;
  bool ending = false;    // finish once the outbox is written
  bool stopping = false;  // ending well: the subscription's stop is awaited
  bool finished = false;
  bool subscribed_sent = false;
  // Made once it ends: a Status is 72 bytes, and with it the state no longer
  // fits the allocator's 512-byte class (640 bytes per stream then).
  std::unique_ptr<grpc::Status> end_status;
  std::uint64_t next_delivery = 0;
  std::uint64_t dropped = 0, dropped_total = 0;  // since the last notice, and ever
  std::uint64_t node = 0;                        // the dedicated connection, 0: none
  // Re-subscribes after a loss, or bounds a clean end's wait for the
  // subscription's stop (made when first needed).
  std::unique_ptr<boost::asio::steady_timer> timer;
  pool::millis backoff{100};
  // Where the broker takes acknowledgements (AMQP): the adapter's tag of
  // each delivery not yet settled, by delivery id. Ids up to stale_upto
  // were issued on a connection since lost: the broker redelivers those,
  // and settling them is a no-op.
  bool acknowledges = false;
  bool auto_ack = false;  // ACK_MODE_AUTO: acked once written to the client
  std::shared_ptr<subscription> sub;
  struct outstanding {
    std::uint64_t tag;                            // the adapter's
    std::chrono::steady_clock::time_point since;  // handed to the client
  };
  // Made on the first delivery that needs them (an idle or Redis stream
  // holds none): 112 bytes of empty maps per stream otherwise.
  struct ledgers {
    std::unordered_map<std::uint64_t, outstanding> unsettled;
    // Deliveries with expects_reply not yet answered: the adapter's tag,
    // by delivery id.
    std::unordered_map<std::uint64_t, std::uint64_t> awaiting_reply;
  };
  std::unique_ptr<ledgers> books;
  ledgers& ledger() {
    if (!books) books = std::make_unique<ledgers>();
    return *books;
  }
  std::uint64_t stale_upto = 0;
  std::shared_ptr<void> registration;  // in the service's recv_registry until the stop completes
  std::string key = random_key();      // subscription_events::stream_key

  static std::string random_key() {
    static constexpr char alphabet[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    thread_local std::mt19937_64 rng(std::random_device{}());
    std::string k;
    // 15: the string's own buffer holds it (62^15 ~ 2^89 keys).
    for (int i = 0; i < 15; ++i) k += alphabet[rng() % (sizeof(alphabet) - 1)];
    return k;
  }

  // Needs mutex.
  void push(v1::RecvResponse response) {
    outbox.push_back(std::move(response));
    pump();
  }

  // Starts the next write, or finishes when ending and all is written.
  // Needs mutex.
  void pump() {
    if (reactor == nullptr || writing || finished) return;
    // Ending well (a half-close) still writes what is queued; the error
    // paths have dropped it already.
    if (!outbox.empty()) {
      writing = true;
      // More queued: this one may wait in gRPC's buffer for the next, which
      // follows at once; a burst of deliveries leaves in one frame and one
      // system call. The last of it flushes.
      reactor->StartWrite(&outbox.front(), outbox.size() > 1
                                               ? grpc::WriteOptions().set_buffer_hint()
                                               : grpc::WriteOptions());
      return;
    }
    if (ending && !writing) {
      // A stream that ends well (the client half-closed) ends once its
      // subscription has stopped: what the client settled is then settled
      // at the broker (AMQP's close-ok, Kafka's commit, JetStream's PONG)
      // when it sees OK. Cancelled or failed, it ends at once.
      const bool well = end_status == nullptr || end_status->ok();
      if (well && (sub || stopping)) {
        if (!stopping) stop_then_finish();
        return;
      }
      finished = true;
      release();
      reactor->finish(end_status ? *end_status : grpc::Status::OK);
    }
  }

  // The most a stream that ends well waits for its subscription's stop.
  static constexpr std::chrono::seconds stop_wait{5};

  // Stops the subscription, then finishes (pump() again, off this call:
  // a stop may complete inline). Needs mutex.
  void stop_then_finish() {
    stopping = true;
    auto executor = target.pool->executor();
    release([weak = weak_from_this(), executor] {
      boost::asio::post(executor, [weak] {
        auto self = weak.lock();
        if (!self) return;
        std::lock_guard lock(self->mutex);
        self->stop_wait_over(nullptr);
      });
    });
    if (!timer) timer = std::make_unique<boost::asio::steady_timer>(executor);
    timer->expires_after(stop_wait);
    timer->async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      auto self = ec ? nullptr : weak.lock();
      if (!self) return;
      std::lock_guard lock(self->mutex);
      self->stop_wait_over(std::make_unique<grpc::Status>(
          to_status(pool::errc::unavailable,
                    "the broker did not confirm the subscription's end within " +
                        std::to_string(stop_wait.count()) +
                        " s: what was settled last may come again (to this group or queue)")));
    });
  }

  // The wait for the stop is over: it stopped, or (`why`) the wait ran out
  // first. No-op once over. Needs mutex.
  void stop_wait_over(std::unique_ptr<grpc::Status> why) {
    if (!stopping) return;
    stopping = false;
    if (why) {
      end_status = std::move(why);
    } else if (timer) {
      timer->cancel();
    }
    pump();
  }

  // recv_registry::member: a drain ends the stream; Stats describe it.
  void drain(grpc::Status status) override {
    std::lock_guard lock(mutex);
    end(std::move(status));
  }
  bool report(std::string& target_name, v1::SubscriptionStats& out) override {
    std::lock_guard lock(mutex);
    if (ending || target.config == nullptr) return false;
    describe(out);
    target_name = target.config->name;
    return true;
  }

  // This stream for Stats. Needs mutex.
  void describe(v1::SubscriptionStats& out) const {
    for (const auto& source : subscribe.sources()) out.add_sources(source);
    out.set_group(subscribe.group());
    out.set_holder(peer);
    const auto age = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - subscribed);
    *out.mutable_age() = google::protobuf::util::TimeUtil::MillisecondsToDuration(age.count());
    out.set_credit(credit);
    out.set_unsettled(static_cast<std::uint32_t>(books ? books->unsettled.size() : 0));
    out.set_delivered(next_delivery);
    out.set_dropped(dropped_total);
    if (sub) sub->fill_stats(out);
  }

  // Stops the subscription and lets the dedicated connection go once it
  // has stopped (acks written before it are settled first), then calls
  // `stopped` (on the adapter's thread, possibly inline). Needs mutex.
  void release(std::function<void()> stopped = {}) {
    if (timer) timer->cancel();
    auto stopping_sub = std::exchange(sub, nullptr);
    const auto n = std::exchange(node, 0);
    auto registered = std::exchange(registration, nullptr);
    auto pool = target.pool;
    if (stopping_sub) {
      // Registered until the stop is confirmed (AMQP: the broker's
      // close-ok), so a shutdown waits for it before closing the pools.
      stopping_sub->stop([pool, n, stopping_sub, registered, stopped = std::move(stopped)] {
        if (n != 0) pool->release_dedicated(n);
        if (stopped) stopped();
      });
      return;
    }
    if (n != 0) pool->release_dedicated(n);
    if (stopped) stopped();
  }

  // Drops what is queued for the client, except a response being written
  // (gRPC still holds it). Needs mutex.
  void drop_unwritten() {
    if (writing) {
      outbox.keep_front();
    } else {
      outbox.clear();
    }
  }

  // Ends the stream with `status` once what is queued is written (now, if
  // it is an error). Needs mutex.
  void end(grpc::Status status) {
    if (ending) return;
    if (!status.ok()) drop_unwritten();
    end_status = std::make_unique<grpc::Status>(std::move(status));
    ending = true;
    pump();
  }

  // The connection was lost: its deliveries will come again, with new ids.
  // Needs mutex.
  void forget_deliveries() {
    sub.reset();
    void_deliveries();
  }

  // Settling what was handed out so far is a no-op from now on. Needs mutex.
  void void_deliveries() {
    if (books) books->unsettled.clear();
    stale_upto = next_delivery;
  }

  // What the client says of its delivery ids: ack, nack (requeue or drop),
  // or in progress (they stay unsettled; the broker waits longer before it
  // redelivers them). Needs mutex.
  enum class settlement { ack, requeue, drop, in_progress };
  void settle(const google::protobuf::RepeatedField<std::uint64_t>& ids, settlement how,
              std::chrono::nanoseconds delay = {}) {
    if (!acknowledges) return;  // nothing to settle at the broker (Redis pub/sub)
    if (delay.count() != 0 && sub && !sub->delays_redelivery()) {
      return end(to_status(pool::errc::invalid_operation,
                           "Nack.delay: this target's broker cannot delay a redelivery "
                           "(nack without a delay, or delay in the application)"));
    }
    auto& unsettled = ledger().unsettled;
    for (const auto id : ids) {
      const auto it = unsettled.find(id);
      if (it == unsettled.end()) {
        if (id != 0 && id <= stale_upto) continue;
        return end(to_status(pool::errc::invalid_operation, "delivery id " + std::to_string(id) +
                                                                " is unknown or already settled"));
      }
      const auto tag = it->second.tag;
      if (how == settlement::in_progress) {
        if (sub) sub->in_progress(tag);
        continue;
      }
      if (sub && delay.count() != 0) {
        sub->requeue_after(tag, delay);
      } else if (sub) {
        sub->settle(tag, how == settlement::ack, how == settlement::requeue);
      }
      target.observed->settle.record(std::chrono::steady_clock::now() - it->second.since);
      unsettled.erase(it);
    }
  }

  // Answers a delivery that expects a reply. Needs mutex.
  void reply(const v1::Reply& answer) {
    if (answer.outcome_case() == v1::Reply::OUTCOME_NOT_SET) {
      return end(to_status(pool::errc::invalid_operation,
                           "reply to delivery " + std::to_string(answer.delivery_id()) +
                               " has neither a result nor an error"));
    }
    auto& awaiting_reply = ledger().awaiting_reply;
    const auto it = awaiting_reply.find(answer.delivery_id());
    if (it == awaiting_reply.end()) {
      return end(to_status(pool::errc::invalid_operation,
                           "delivery id " + std::to_string(answer.delivery_id()) +
                               " awaits no reply (unknown, not a request, or answered already)"));
    }
    if (sub) sub->reply(it->second, answer);
    awaiting_reply.erase(it);
  }

  // Where subscriptions take what arrives on any of the target's
  // connections (framed peer requests), no connection of its own.
  void start_unattached() {
    std::lock_guard lock(mutex);
    if (reactor == nullptr || ending) return;
    sub = target.operations->start_subscription(subscribe, credit, nullptr, events());
  }

  subscription_events events() {
    return {std::weak_ptr<subscription_sink>(shared_from_this()), key};
  }

  // subscription_sink: what the subscription tells the stream.
  void failed(grpc::Status status) override {
    std::lock_guard lock(mutex);
    end(std::move(status));
  }
  void restarting() override {
    std::lock_guard lock(mutex);
    void_deliveries();
  }
  void count(pool::target_pool::recv_event what) override { target.pool->count(what); }

  void acquire() {
    const auto deadline = pool::clock::now() + target.config->pool.connect_timeout +
                          target.config->pool.acquire_timeout;
    target.pool->acquire_dedicated(
        deadline,
        [self = shared_from_this()](std::error_code ec, std::uint64_t node,
                                    pool::connection* conn) {
          std::lock_guard lock(self->mutex);
          if (self->reactor == nullptr || self->ending) {
            if (!ec) self->target.pool->release_dedicated(node);
            return;
          }
          if (ec) return self->retry_later();
          self->node = node;
          self->backoff = pool::millis(100);
          self->sub = self->target.operations->start_subscription(self->subscribe, self->credit,
                                                                  conn, self->events());
        },
        [weak = weak_from_this()](std::error_code) {
          auto self = weak.lock();
          if (!self) return;
          std::lock_guard lock(self->mutex);
          self->node = 0;
          self->forget_deliveries();
          if (self->reactor != nullptr && !self->ending) self->retry_later();
        });
  }

  // Needs mutex.
  void retry_later() {
    if (!timer) timer = std::make_unique<boost::asio::steady_timer>(target.pool->executor());
    timer->expires_after(backoff);
    backoff = std::min(backoff * 2, pool::millis(2000));
    timer->async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->acquire();
    });
  }

  // Tells the client what was dropped since the last notice, as soon as the
  // buffer has room again. Needs mutex.
  void announce_drops() {
    if (dropped == 0 || outbox.size() >= credit) return;
    v1::RecvResponse notice;
    notice.mutable_dropped()->set_count(dropped);
    notice.mutable_dropped()->set_total(dropped_total);
    dropped = 0;
    outbox.push_back(std::move(notice));
  }

  void ready() override {
    std::lock_guard lock(mutex);
    if (subscribed_sent || reactor == nullptr) return;
    subscribed_sent = true;
    v1::RecvResponse response;
    response.mutable_subscribed()->set_credit(credit);
    push(std::move(response));
  }

  void deliver(v1::Delivery d, std::uint64_t tag) override {
    std::lock_guard lock(mutex);
    if (reactor == nullptr || ending) return;
    // With acknowledgements the broker stops at the credit: never drop. A
    // request that expects a reply is not dropped either (its sender stops
    // at the credit too, and would otherwise wait for its timeout).
    if (!acknowledges && !d.expects_reply() && outbox.size() >= credit) {
      ++dropped;
      ++dropped_total;
      target.pool->count(pool::target_pool::recv_event::dropped);
      return;
    }
    announce_drops();
    d.set_delivery_id(++next_delivery);
    if (!d.message().headers().empty()) {
      if (auto trace = trace_from_headers(d.message()); !trace.empty()) {
        d.mutable_trace()->set_traceparent(std::move(trace.parent));
        d.mutable_trace()->set_tracestate(std::move(trace.state));
      }
    }
    target.observed->bytes_from_broker.fetch_add(d.message().ByteSizeLong(),
                                                 std::memory_order_relaxed);
    if (acknowledges)
      ledger().unsettled.emplace(next_delivery, outstanding{tag, std::chrono::steady_clock::now()});
    if (d.expects_reply()) ledger().awaiting_reply.emplace(next_delivery, tag);
    v1::RecvResponse response;
    *response.mutable_delivery() = std::move(d);
    push(std::move(response));
  }
};

recv_reactor::recv_reactor(validate_fn validate, metrics& m, recv_registry& streams,
                           std::string peer, stream_slot slot)
    : validate_(std::move(validate)),
      metrics_(m),
      streams_(streams),
      state_(std::make_shared<state>()),
      slot_(std::move(slot)) {
  state_->reactor = this;
  state_->peer = std::move(peer);
  StartRead(&request_);
}

void recv_reactor::OnReadDone(bool ok) {
  std::unique_lock lock(state_->mutex);
  const bool started = state_->target.pool != nullptr;
  lock.unlock();
  if (!started) {
    // The first message: it must subscribe.
    if (!ok) return finish(grpc::Status::OK);
    if (request_.kind_case() != v1::RecvRequest::kSubscribe) {
      return finish(to_status(pool::errc::invalid_operation,
                              "the first message on a Recv stream must be subscribe"));
    }
    return subscribe();
  }
  if (!ok) {
    // The client half-closed: the subscription ends.
    lock.lock();
    state_->end_status = std::make_unique<grpc::Status>(grpc::Status::OK);
    state_->ending = true;
    state_->pump();
    return;
  }
  lock.lock();
  switch (request_.kind_case()) {
    case v1::RecvRequest::kCredit:
      state_->credit += request_.credit().credit();
      if (state_->sub) state_->sub->set_credit(state_->credit);
      break;
    // Where the broker has no acknowledgements (Redis pub/sub) these are
    // accepted and ignored.
    case v1::RecvRequest::kAck:
      state_->settle(request_.ack().delivery_ids(), request_.ack().in_progress()
                                                        ? state::settlement::in_progress
                                                        : state::settlement::ack);
      break;
    case v1::RecvRequest::kNack: {
      const auto& nack = request_.nack();
      const auto delay = std::chrono::nanoseconds(
          google::protobuf::util::TimeUtil::DurationToNanoseconds(nack.delay()));
      if (delay.count() < 0 || (delay.count() > 0 && !nack.requeue())) {
        state_->end(to_status(pool::errc::invalid_operation,
                              delay.count() < 0 ? "Nack.delay is negative"
                                                : "Nack.delay needs requeue: true (a dropped "
                                                  "message is not redelivered)"));
        break;
      }
      state_->settle(nack.delivery_ids(),
                     nack.requeue() ? state::settlement::requeue : state::settlement::drop, delay);
      break;
    }
    case v1::RecvRequest::kReply:
      state_->reply(request_.reply());
      break;
    case v1::RecvRequest::kSubscribe:
      state_->end(to_status(pool::errc::invalid_operation,
                            "subscribe comes once, as the first message on a Recv stream"));
      break;
    default:
      break;
  }
  lock.unlock();
  StartRead(&request_);
}

void recv_reactor::subscribe() {
  const auto& request = request_.subscribe();
  target_set::entry target;
  // Asked once: what it holds (the caller's identity) is let go with it.
  const auto validate = std::exchange(validate_, nullptr);
  if (auto status = validate(request, target); !status.ok()) return finish(status);
  {
    std::lock_guard lock(state_->mutex);
    state_->target = target;
    if (request.credit() != 0) state_->credit = request.credit();
    state_->acknowledges = target.operations->acknowledges(request);
    state_->auto_ack = request.ack_mode() == v1::ACK_MODE_AUTO;
    state_->subscribed = std::chrono::steady_clock::now();
    // Taken from the read buffer rather than copied: it is kept for the
    // stream's life, and the buffer would hold a second copy until the
    // next message (an idle stream never sends one). `request` is gone.
    state_->subscribe.Swap(request_.mutable_subscribe());
    request_.Clear();
  }
  // A drain ends the stream (it has no end of its own): its subscription
  // stops, so what the client has not acked goes back to the broker.
  auto registration = streams_.add(std::weak_ptr<recv_registry::member>(state_));
  {
    std::lock_guard lock(state_->mutex);
    // Kept until OnDone if the stream has ended already.
    state_->registration = std::move(registration);
  }
  if (target.operations->subscribes_on_a_connection()) {
    state_->acquire();
  } else {
    state_->start_unattached();
  }
  StartRead(&request_);
}

void recv_reactor::OnWriteDone(bool ok) {
  std::lock_guard lock(state_->mutex);
  state_->writing = false;
  if (state_->outbox.empty()) return state_->pump();  // (cannot happen: the written one is kept)
  // ACK_MODE_AUTO: a delivery counts as delivered once written to the client.
  const auto& written = state_->outbox.front();
  if (ok && state_->auto_ack && written.has_delivery()) {
    google::protobuf::RepeatedField<std::uint64_t> ids;
    ids.Add(written.delivery().delivery_id());
    state_->settle(ids, state::settlement::ack);
  }
  state_->outbox.pop_front();
  state_->announce_drops();
  if (!ok) {
    state_->outbox.clear();
    state_->end_status = std::make_unique<grpc::Status>(grpc::Status::CANCELLED);
    state_->ending = true;
  }
  state_->pump();
}

void recv_reactor::OnCancel() {
  std::lock_guard lock(state_->mutex);
  if (state_->target.pool == nullptr) return;  // not subscribed: OnReadDone(false) finishes
  state_->drop_unwritten();
  state_->end_status = std::make_unique<grpc::Status>(grpc::Status::CANCELLED);
  state_->ending = true;
  state_->pump();
}

void recv_reactor::OnDone() {
  {
    std::lock_guard lock(state_->mutex);
    state_->reactor = nullptr;
    state_->release();
  }
  delete this;
}

void recv_reactor::finish(const grpc::Status& status) {
  metrics_.count_call(rpc_method::recv, status.error_code());
  Finish(status);
}

}  // namespace brokerside::sidecar
