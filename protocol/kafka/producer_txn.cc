// Transactions on a producer made with a transactional.id: a Kafka lease's
// txn.begin / txn.commit / txn.abort. librdkafka's init, commit and abort
// block until the coordinator answers, so they run on the producer's
// blocking thread; begin is local.
#include <boost/asio/post.hpp>

#include "protocol/kafka/producer_impl.h"

namespace brokerside::protocol::kafka {

namespace asio = boost::asio;

namespace {

// Takes `e` (null: none) apart and frees it.
error take(rd_kafka_error_t* e) {
  if (e == nullptr) return {};
  error out{static_cast<int>(rd_kafka_error_code(e)), rd_kafka_error_string(e)};
  if (rd_kafka_error_txn_requires_abort(e) != 0) out.text += " (the transaction must be aborted)";
  if (rd_kafka_error_is_fatal(e) != 0) out.text += " (fatal: the producer cannot go on)";
  rd_kafka_error_destroy(e);
  return out;
}

}  // namespace

bool producer::in_transaction() const noexcept { return impl_->in_transaction; }

error producer::begin_transaction() {
  auto& i = *impl_;
  if (i.closed) return closed_error();
  auto e = take(rd_kafka_begin_transaction(i.rk));
  if (!e) i.in_transaction = true;
  return e;
}

void producer::init_transactions(std::chrono::milliseconds timeout, error_handler done) {
  auto& i = *impl_;
  auto executor = i.wakeups.executor();
  if (i.closed) return asio::post(executor, [done] { done(closed_error()); });
  post_blocking([rk = i.rk, timeout, executor, done = std::move(done)] {
    auto e = take(rd_kafka_init_transactions(rk, static_cast<int>(timeout.count())));
    asio::post(executor, [done, e = std::move(e)] { done(e); });
  });
}

// Commit or abort (`end`): the transaction is over once it succeeded; a
// failed commit stays open until aborted.
void producer::end_transaction(rd_kafka_error_t* (*end)(rd_kafka_t*, int),
                               std::chrono::milliseconds timeout, error_handler done) {
  auto& i = *impl_;
  auto executor = i.wakeups.executor();
  if (i.closed) return asio::post(executor, [done] { done(closed_error()); });
  post_blocking(
      [rk = i.rk, end, timeout, executor, weak = weak_from_this(), done = std::move(done)] {
        auto e = take(end(rk, static_cast<int>(timeout.count())));
        asio::post(executor, [weak, done, e = std::move(e)] {
          if (auto self = weak.lock(); self && !e) self->impl_->in_transaction = false;
          done(e);
        });
      });
}

void producer::commit_transaction(std::chrono::milliseconds timeout, error_handler done) {
  end_transaction(rd_kafka_commit_transaction, timeout, std::move(done));
}

void producer::abort_transaction(std::chrono::milliseconds timeout, error_handler done) {
  end_transaction(rd_kafka_abort_transaction, timeout, std::move(done));
}

}  // namespace brokerside::protocol::kafka
