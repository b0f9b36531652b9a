#include "sidecar/recv_reactor.h"

#include <algorithm>

#include "pool/errc.h"
#include "sidecar/status.h"

namespace brokerside::sidecar {

// What pool callbacks share with the reactor. They hold it, not the
// reactor, which gRPC deletes when the call is done; `reactor` is null from
// then on and every callback checks it under `mutex`.
struct recv_reactor::state : std::enable_shared_from_this<state> {
  std::mutex mutex;
  recv_reactor* reactor = nullptr;
  target_set::entry target;
  v1::Subscribe subscribe;
  std::uint32_t credit = default_credit;  // most responses buffered
  std::deque<v1::RecvResponse> outbox;    // front() is being written
  bool writing = false;
  bool ending = false;  // finish once the outbox is written
  bool finished = false;
  bool subscribed_sent = false;
  grpc::Status end_status;
  std::uint64_t next_delivery = 0;
  std::uint64_t dropped = 0, dropped_total = 0;    // since the last notice, and ever
  std::uint64_t node = 0;                          // the dedicated connection, 0: none
  std::optional<boost::asio::steady_timer> retry;  // re-subscribe after a loss
  pool::millis backoff{100};

  // Needs mutex.
  void push(v1::RecvResponse response) {
    outbox.push_back(std::move(response));
    pump();
  }

  // Starts the next write, or finishes when ending and all is written.
  // Needs mutex.
  void pump() {
    if (reactor == nullptr || writing || finished) return;
    if (!outbox.empty() && !ending) {
      writing = true;
      reactor->StartWrite(&outbox.front());
      return;
    }
    if (ending && !writing) {
      finished = true;
      release();
      reactor->finish(end_status);
    }
  }

  // Needs mutex.
  void release() {
    if (node != 0) target.pool->release_dedicated(node);
    node = 0;
    if (retry) retry->cancel();
  }

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
          std::weak_ptr<state> weak = self;
          self->target.operations->start_subscription(
              self->subscribe, *conn,
              [weak](v1::Delivery d) {
                if (auto s = weak.lock()) s->deliver(std::move(d));
              },
              [weak] {
                if (auto s = weak.lock()) s->ready();
              });
        },
        [weak = weak_from_this()](std::error_code) {
          auto self = weak.lock();
          if (!self) return;
          std::lock_guard lock(self->mutex);
          self->node = 0;
          if (self->reactor != nullptr && !self->ending) self->retry_later();
        });
  }

  // Needs mutex.
  void retry_later() {
    if (!retry) retry.emplace(target.pool->executor());
    retry->expires_after(backoff);
    backoff = std::min(backoff * 2, pool::millis(2000));
    retry->async_wait([weak = weak_from_this()](boost::system::error_code ec) {
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

  void ready() {
    std::lock_guard lock(mutex);
    if (subscribed_sent || reactor == nullptr) return;
    subscribed_sent = true;
    v1::RecvResponse response;
    response.mutable_subscribed()->set_credit(credit);
    push(std::move(response));
  }

  void deliver(v1::Delivery d) {
    std::lock_guard lock(mutex);
    if (reactor == nullptr || ending) return;
    if (outbox.size() >= credit) {
      ++dropped;
      ++dropped_total;
      target.pool->count_dropped(1);
      return;
    }
    announce_drops();
    d.set_delivery_id(++next_delivery);
    v1::RecvResponse response;
    *response.mutable_delivery() = std::move(d);
    push(std::move(response));
  }
};

recv_reactor::recv_reactor(validate_fn validate, metrics& m)
    : validate_(std::move(validate)), metrics_(m), state_(std::make_shared<state>()) {
  state_->reactor = this;
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
    return subscribe(request_.subscribe());
  }
  if (!ok) {
    // The client half-closed: the subscription ends.
    lock.lock();
    state_->end_status = grpc::Status::OK;
    state_->ending = true;
    state_->pump();
    return;
  }
  if (request_.kind_case() == v1::RecvRequest::kCredit) {
    lock.lock();
    state_->credit += request_.credit().credit();
    lock.unlock();
  }
  // Acks and nacks mean nothing where the broker has no acknowledgements
  // (Redis pub/sub); they are accepted and ignored.
  StartRead(&request_);
}

void recv_reactor::subscribe(const v1::Subscribe& request) {
  target_set::entry target;
  if (auto status = validate_(request, target); !status.ok()) return finish(status);
  {
    std::lock_guard lock(state_->mutex);
    state_->target = target;
    state_->subscribe = request;
    if (request.credit() != 0) state_->credit = request.credit();
  }
  state_->acquire();
  StartRead(&request_);
}

void recv_reactor::OnWriteDone(bool ok) {
  std::lock_guard lock(state_->mutex);
  state_->writing = false;
  state_->outbox.pop_front();
  state_->announce_drops();
  if (!ok) {
    state_->outbox.clear();
    state_->end_status = grpc::Status::CANCELLED;
    state_->ending = true;
  }
  state_->pump();
}

void recv_reactor::OnCancel() {
  std::lock_guard lock(state_->mutex);
  if (state_->target.pool == nullptr) return;  // not subscribed: OnReadDone(false) finishes
  state_->outbox.clear();
  state_->end_status = grpc::Status::CANCELLED;
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
