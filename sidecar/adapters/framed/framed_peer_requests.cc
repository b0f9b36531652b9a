#include "sidecar/adapters/framed/framed_peer_requests.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <future>

#include "sidecar/adapters/framed/framed_translate.h"

namespace brokerside::sidecar {

namespace asio = boost::asio;
namespace framed = protocol::framed;

namespace {
constexpr const char* shutting_down = "shutting down: brokerside is stopping";
}  // namespace

struct framed_peer_requests::subscriber {
  subscription_events events;
  std::uint32_t credit;
  std::uint32_t outstanding = 0;  // delivered, not yet answered
};

struct framed_peer_requests::request {
  std::weak_ptr<framed::connection> conn;
  std::int64_t id = 0;                 // the peer's msg_id
  framed::value content;               // until delivered
  std::shared_ptr<subscriber> holder;  // null while waiting
  std::unique_ptr<asio::steady_timer> timer;
};

// What a Recv stream holds. Its calls come from gRPC threads: each is
// posted to the strand.
class framed_peer_requests::handle final : public subscription {
 public:
  handle(std::shared_ptr<framed_peer_requests> owner, std::shared_ptr<subscriber> self)
      : owner_(std::move(owner)), self_(std::move(self)) {}

  void settle(std::uint64_t, bool, bool) override {}  // requests are answered, not acked

  void set_credit(std::uint32_t credit) override {
    asio::post(owner_->strand_, [owner = owner_, self = self_, credit] {
      self->credit = credit;
      owner->pump();
    });
  }

  void reply(std::uint64_t tag, const v1::Reply& reply) override {
    auto type = framed::message_type::exception;
    framed::value content;
    if (reply.outcome_case() == v1::Reply::kResult) {
      // A result with no content is null (an empty body would be bytes,
      // which JSON cannot carry).
      if (reply.result().content_case() == v1::Message::CONTENT_NOT_SET) {
        type = framed::message_type::result;
      } else if (auto status = framed_translate::content_of(reply.result(), content); status.ok()) {
        type = framed::message_type::result;
      } else {
        content = "the app's answer cannot be sent: " + status.error_message();
      }
    } else {
      content = reply.error();
    }
    asio::post(owner_->strand_,
               [owner = owner_, tag, type, content = std::move(content)]() mutable {
                 owner->answer(tag, type, std::move(content));
               });
  }

  void stop(std::function<void()> then) override {
    asio::post(owner_->strand_, [owner = owner_, self = self_, then = std::move(then)] {
      owner->unsubscribe(self);
      then();
    });
  }

 private:
  std::shared_ptr<framed_peer_requests> owner_;
  std::shared_ptr<subscriber> self_;
};

std::shared_ptr<framed_peer_requests> framed_peer_requests::create(
    asio::any_io_executor executor, std::string target, std::chrono::milliseconds reply_timeout) {
  return std::shared_ptr<framed_peer_requests>(
      new framed_peer_requests(std::move(executor), std::move(target), reply_timeout));
}

framed_peer_requests::framed_peer_requests(asio::any_io_executor executor, std::string target,
                                           std::chrono::milliseconds reply_timeout)
    : strand_(protocol::make_io_strand(executor)),
      target_(std::move(target)),
      reply_timeout_(reply_timeout) {}

void framed_peer_requests::attach(framed::connection& conn) {
  conn.on_request([weak = weak_from_this(), conn = conn.weak_from_this()](std::int64_t id,
                                                                          framed::value content) {
    auto self = weak.lock();
    if (!self) {
      // On the connection's executor already: answer here.
      if (auto c = conn.lock()) {
        c->reply(id, framed::message_type::exception,
                 framed::value{std::string("shutting down: the target is gone")});
      }
      return;
    }
    asio::post(self->strand_, [self, conn, id, content = std::move(content)]() mutable {
      self->arrived(conn, id, std::move(content));
    });
  });
}

std::shared_ptr<subscription> framed_peer_requests::subscribe(std::uint32_t credit,
                                                              subscription_events events) {
  auto s = std::make_shared<subscriber>();
  s->events = std::move(events);
  s->credit = credit;
  asio::post(strand_, [self = shared_from_this(), s] {
    self->subscribers_.push_back(s);
    s->events.ready();
    self->pump();
  });
  return std::make_shared<handle>(shared_from_this(), s);
}

void framed_peer_requests::stop() {
  auto done = std::make_shared<std::promise<void>>();
  asio::post(strand_, [self = shared_from_this(), done] {
    self->stopped_ = true;
    std::vector<std::uint64_t> all;
    for (const auto& [tag, r] : self->requests_) all.push_back(tag);
    for (const auto tag : all) self->refuse(tag, shutting_down);
    done->set_value();
  });
  done->get_future().wait_for(std::chrono::seconds(2));
}

void framed_peer_requests::arrived(std::weak_ptr<framed::connection> conn, std::int64_t id,
                                   framed::value content) {
  const auto tag = ++next_tag_;
  auto& r = requests_[tag];
  r.conn = std::move(conn);
  r.id = id;
  r.content = std::move(content);
  if (stopped_) return refuse(tag, shutting_down);
  if (subscribers_.empty()) return refuse(tag, no_handler());
  if (waiting_.size() >= max_waiting) {
    return refuse(tag, "busy: " + std::to_string(waiting_.size()) +
                           " requests already wait for a Recv subscriber of target " + target_);
  }
  r.timer = std::make_unique<asio::steady_timer>(strand_, reply_timeout_);
  r.timer->async_wait([weak = weak_from_this(), tag](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    self->refuse(tag, "timeout: no answer from a Recv subscriber of target " + self->target_ +
                          " within " + std::to_string(self->reply_timeout_.count()) + " ms");
  });
  waiting_.push_back(tag);
  pump();
}

std::string framed_peer_requests::no_handler() const {
  return "no handler: no Recv stream is subscribed to target " + target_;
}

std::shared_ptr<framed_peer_requests::subscriber> framed_peer_requests::next_with_credit() {
  for (std::size_t tried = 0; tried < subscribers_.size(); ++tried) {
    auto& s = subscribers_[next_subscriber_++ % subscribers_.size()];
    if (s->outstanding < s->credit) return s;
  }
  return nullptr;
}

void framed_peer_requests::pump() {
  // Stopping: what waits is being answered "shutting down", not handed out.
  if (stopped_) return;
  while (!waiting_.empty()) {
    const auto it = requests_.find(waiting_.front());
    if (it == requests_.end()) {  // answered while waiting (timed out)
      waiting_.pop_front();
      continue;
    }
    auto& r = it->second;
    if (r.conn.expired()) {  // its channel is gone: nobody to answer
      waiting_.pop_front();
      requests_.erase(it);
      continue;
    }
    auto s = next_with_credit();
    if (!s) return;
    waiting_.pop_front();
    r.holder = s;
    ++s->outstanding;
    v1::Delivery d;
    d.set_source(target_);
    d.set_expects_reply(true);
    framed_translate::peer_request_to(std::move(r.content), *d.mutable_message());
    s->events.deliver(std::move(d), it->first);
  }
}

void framed_peer_requests::unsubscribe(const std::shared_ptr<subscriber>& gone) {
  std::erase(subscribers_, gone);
  std::vector<std::uint64_t> orphans;
  for (auto& [tag, r] : requests_) {
    if (r.holder == gone) orphans.push_back(tag);
  }
  for (const auto tag : orphans) {
    refuse(tag, "handler gone: the Recv stream of target " + target_ +
                    " that took the request ended before answering it");
  }
  if (!subscribers_.empty()) return pump();
  // Nobody is left to take what waits.
  for (const auto tag : std::exchange(waiting_, {})) refuse(tag, no_handler());
}

void framed_peer_requests::refuse(std::uint64_t tag, const std::string& why) {
  spdlog::debug("target {}: answering a peer's request with an exception: {}", target_, why);
  answer(tag, framed::message_type::exception, framed::value{why});
}

// Sends the answer on the request's own channel (dropped if that is gone)
// and forgets the request.
void framed_peer_requests::answer(std::uint64_t tag, framed::message_type type,
                                  framed::value content) {
  const auto it = requests_.find(tag);
  if (it == requests_.end()) return;  // answered already: timed out, or refused
  auto& r = it->second;
  if (auto conn = r.conn.lock()) {
    asio::post(conn->executor(), [conn, id = r.id, type, content = std::move(content)] {
      conn->reply(id, type, content);
    });
  }
  if (r.timer) r.timer->cancel();
  if (r.holder) --r.holder->outstanding;
  requests_.erase(it);
  pump();
}

}  // namespace brokerside::sidecar
