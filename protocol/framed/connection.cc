#include "protocol/framed/connection.h"

#include <boost/asio/post.hpp>

#include "protocol/errc.h"

namespace brokerside::protocol::framed {

namespace asio = boost::asio;

namespace {
constexpr std::size_t read_chunk = 16 * 1024;
constexpr std::size_t max_abandoned = 4096;  // unanswered requests whose callers gave up
}  // namespace

std::shared_ptr<connection> connection::create(asio::any_io_executor executor) {
  return std::shared_ptr<connection>(new connection(std::move(executor)));
}

connection::connection(asio::any_io_executor executor)
    : executor_(executor), stream_(executor), connect_timer_(executor) {}

void connection::connect(connect_options options, std::function<void(std::error_code)> done) {
  options_ = std::move(options);
  auto self = shared_from_this();
  auto complete = std::make_shared<std::function<void(std::error_code)>>(
      [self, done = std::move(done)](std::error_code ec) mutable {
        if (!done) return;
        self->connect_timer_.cancel();
        auto call = std::exchange(done, nullptr);
        if (ec) self->abort(ec);
        call(ec);
      });
  connect_timer_.expires_after(options_.timeout);
  connect_timer_.async_wait([complete](boost::system::error_code ec) {
    if (!ec) (*complete)(errc::connect_timeout);
  });
  stream_.connect(options_.to, [self, complete](std::error_code ec) {
    if (self->closed_) return (*complete)(errc::aborted);
    if (ec) return (*complete)(ec);
    self->open_ = true;
    self->start_read();
    (*complete)({});
  });
}

void connection::start(connect_options options) {
  options_ = std::move(options);
  if (closed_) return;
  open_ = true;
  start_read();
}

std::error_code connection::request(const value& content, reply_handler handler, std::int64_t& id) {
  id = next_id_++;
  if (!open_ || draining_) {
    asio::post(executor_, [h = std::move(handler)] { h(errc::aborted, {}, {}, false); });
    return {};
  }
  if (auto ec = append_message(outbox_, options_.codec, {message_type::request, id, content},
                               options_.max_frame, options_.limits)) {
    return ec;
  }
  pending_.emplace(id, pending_request{std::move(handler), false});
  unwritten_.push_back(id);
  start_write();
  return {};
}

void connection::abandon(std::int64_t id) {
  const auto it = pending_.find(id);
  if (it == pending_.end() || !it->second.handler) return;
  it->second.handler = nullptr;
  // A peer that leaves this many requests unanswered past their callers'
  // deadlines is not coming back to them: start over rather than remember
  // them forever.
  if (++abandoned_ > max_abandoned) {
    fail(errc::aborted, std::to_string(abandoned_) + " requests unanswered past their deadlines");
  }
}

void connection::on_request(std::function<void(std::int64_t, value)> request) {
  on_request_ = std::move(request);
}

void connection::reply(std::int64_t id, message_type answer, const value& content) {
  if (!open_) return;
  if (append_message(outbox_, options_.codec, {answer, id, content}, options_.max_frame,
                     options_.limits)) {
    // The codec cannot carry the result (e.g. bytes in JSON): the peer still
    // gets an answer, as aiomas does when its own encoder fails.
    const auto ec = append_message(
        outbox_, options_.codec,
        {message_type::exception, id, value{std::string("the result cannot be encoded")}});
    (void)ec;
  }
  start_write();
}

void connection::start_write() {
  if (!writing_.empty() || outbox_.empty() || !open_) return;
  std::swap(writing_, outbox_);
  std::swap(in_write_, unwritten_);
  stream_.write(asio::buffer(writing_),
                [self = shared_from_this()](std::error_code ec, std::size_t) {
                  // Written even if the write failed: part of it may have
                  // reached the peer, so it must not be re-sent as unsent.
                  for (const auto id : self->in_write_) {
                    if (const auto it = self->pending_.find(id); it != self->pending_.end()) {
                      it->second.written = true;
                    }
                  }
                  if (ec) return self->abort(ec);
                  self->in_write_.clear();
                  self->writing_.clear();
                  if (self->draining_ && self->outbox_.empty()) return self->close();
                  self->start_write();
                });
}

void connection::start_read() {
  const auto size = inbox_.size();
  inbox_.resize(size + read_chunk);
  stream_.read_some(asio::buffer(inbox_.data() + size, read_chunk),
                    [self = shared_from_this(), size](std::error_code ec, std::size_t n) {
                      self->inbox_.resize(size + n);
                      if (ec) return self->abort(ec);
                      while (self->open_) {
                        message m;
                        std::error_code decode_ec;
                        const auto rest = std::string_view(self->inbox_).substr(self->inbox_used_);
                        const auto used =
                            decode_message(rest, self->options_.codec, m, decode_ec,
                                           self->options_.max_frame, self->options_.limits);
                        if (decode_ec) return self->fail(decode_ec, decode_ec.message());
                        if (used == 0) break;
                        self->inbox_used_ += used;
                        self->received(std::move(m));
                      }
                      if (!self->open_) return;
                      if (self->inbox_used_ > 0 && self->inbox_used_ * 2 >= self->inbox_.size()) {
                        self->inbox_.erase(0, self->inbox_used_);
                        self->inbox_used_ = 0;
                      }
                      self->start_read();
                    });
}

void connection::received(message m) {
  if (m.type == message_type::request) {
    if (on_request_) {
      on_request_(m.id, std::move(m.content));
    } else {
      reply(m.id, message_type::exception, value{std::string("no handler")});
    }
    return;
  }
  const auto it = pending_.find(m.id);
  if (it == pending_.end()) {
    return fail(errc::malformed_frame,
                std::string(m.type == message_type::result ? "result" : "exception") +
                    " for unknown msg_id " + std::to_string(m.id));
  }
  auto p = std::move(it->second);
  pending_.erase(it);
  if (!p.handler) {
    --abandoned_;
    return;
  }
  p.handler({}, m.type, std::move(m.content), true);
}

void connection::fail(std::error_code ec, std::string why) {
  protocol_error_ = std::move(why);
  abort(ec);
}

void connection::close() {
  closed_ = true;
  abort(errc::aborted);
}

void connection::close_when_written(std::chrono::milliseconds limit) {
  if (closed_ || !open_ || (writing_.empty() && outbox_.empty())) return close();
  if (draining_) return;
  draining_ = true;
  connect_timer_.expires_after(limit);
  connect_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->close();
  });
}

void connection::on_lost(std::function<void(std::error_code)> lost) { lost_ = std::move(lost); }

void connection::abort(std::error_code ec) {
  const bool was_open = open_;
  open_ = false;
  stream_.close();
  connect_timer_.cancel();
  auto failing = std::exchange(pending_, {});
  abandoned_ = 0;
  outbox_.clear();
  unwritten_.clear();
  for (auto& [id, p] : failing) {
    if (p.handler) p.handler(ec, message_type::exception, {}, p.written);
  }
  if (was_open && lost_ && ec != errc::aborted) {
    auto lost = std::exchange(lost_, nullptr);
    lost(ec);
  }
}

}  // namespace brokerside::protocol::framed
