#include "protocol/redis/connection.h"

#include <boost/asio/post.hpp>

#include "protocol/errc.h"

namespace brokerside::protocol::redis {

namespace asio = boost::asio;

namespace {

constexpr std::size_t read_chunk = 16 * 1024;

bool starts_with(const std::string& text, std::string_view prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

std::shared_ptr<connection> connection::create(asio::any_io_executor executor) {
  return std::shared_ptr<connection>(new connection(std::move(executor)));
}

connection::connection(asio::any_io_executor executor)
    : executor_(executor), stream_(executor), connect_timer_(executor) {}

void connection::connect(connect_options options, done_handler done) {
  options_ = std::move(options);
  scanner_ = reply_scanner(options_.limits);
  auto self = shared_from_this();
  // Completes once: whichever of timeout, failure or success comes first.
  auto complete = std::make_shared<done_handler>(
      [self, done = std::move(done)](std::error_code ec, std::string text) mutable {
        if (!done) return;
        self->connect_timer_.cancel();
        auto call = std::move(done);
        done = nullptr;
        if (ec) self->abort(ec);
        call(ec, std::move(text));
      });
  connect_timer_.expires_after(options_.timeout);
  connect_timer_.async_wait([complete](boost::system::error_code ec) {
    if (!ec) (*complete)(errc::connect_timeout, {});
  });
  stream_.connect(options_.to, [self, complete](std::error_code ec) {
    if (self->closed_) return (*complete)(errc::aborted, {});
    if (ec) return (*complete)(ec, {});
    self->open_ = true;
    self->start_read();
    self->handshake(
        [complete](std::error_code ec, std::string text) { (*complete)(ec, std::move(text)); });
  });
}

void connection::handshake(done_handler done) {
  // Runs `commands` pipelined; the first error reply fails the handshake.
  auto run_all = [self = shared_from_this()](std::vector<std::vector<std::string>> commands,
                                             done_handler then) {
    if (commands.empty()) {
      self->ready_ = true;
      return then({}, {});
    }
    struct state {
      std::size_t left;
      std::error_code ec;
      std::string text;
      done_handler then;
    };
    auto s = std::make_shared<state>(state{commands.size(), {}, {}, std::move(then)});
    for (auto& command : commands) {
      const std::vector<std::string_view> views(command.begin(), command.end());
      self->execute(views, [self, s](std::error_code ec, value v, bool) {
        if (!s->ec && ec) s->ec = ec;
        if (!s->ec && v.type == resp_type::error) {
          s->ec = errc::handshake_failed;
          s->text = v.text;
        }
        if (--s->left != 0) return;
        if (!s->ec) self->ready_ = true;
        s->then(s->ec, std::move(s->text));
      });
    }
  };

  std::vector<std::string> hello = {"HELLO", "3"};
  if (!options_.password.empty()) {
    hello.insert(hello.end(),
                 {"AUTH", options_.user.empty() ? "default" : options_.user, options_.password});
  }
  if (!options_.client_name.empty()) hello.insert(hello.end(), {"SETNAME", options_.client_name});
  std::vector<std::string> select;
  if (options_.db != 0) select = {"SELECT", std::to_string(options_.db)};

  const std::vector<std::string_view> hello_views(hello.begin(), hello.end());
  execute(hello_views, [self = shared_from_this(), run_all, select, done = std::move(done)](
                           std::error_code ec, value v, bool) mutable {
    if (ec) return done(ec, {});
    std::vector<std::vector<std::string>> rest;
    if (v.type != resp_type::error) {
      self->protocol_ = 3;
    } else if (starts_with(v.text, "WRONGPASS") || starts_with(v.text, "NOPERM") ||
               starts_with(v.text, "NOAUTH")) {
      return done(errc::handshake_failed, v.text);
    } else {
      // No HELLO (Redis before 6) or no RESP3: RESP2 and the older commands.
      self->protocol_ = 2;
      const auto& o = self->options_;
      if (!o.password.empty()) {
        rest.push_back(o.user.empty() ? std::vector<std::string>{"AUTH", o.password}
                                      : std::vector<std::string>{"AUTH", o.user, o.password});
      }
      if (!o.client_name.empty()) rest.push_back({"CLIENT", "SETNAME", o.client_name});
    }
    if (!select.empty()) rest.push_back(select);
    run_all(std::move(rest), std::move(done));
  });
}

void connection::execute(std::span<const std::string_view> args, reply_handler handler) {
  if (args.empty()) {
    // Redis answers nothing to an empty command: it would stall the FIFO.
    asio::post(executor_,
               [handler = std::move(handler)] { handler(errc::malformed_frame, {}, false); });
    return;
  }
  if (!open_) {
    asio::post(executor_, [handler = std::move(handler)] { handler(errc::aborted, {}, false); });
    return;
  }
  encode_command(args, outbox_);
  pending_.push_back({std::move(handler), false});
  ++unwritten_;
  start_write();
  check_water_marks();
}

void connection::send_without_reply(std::vector<std::string> args) {
  if (!open_ || args.empty()) return;
  subscriber_ = true;
  std::vector<std::string_view> views(args.begin(), args.end());
  encode_command(views, outbox_);
  start_write();
}

void connection::on_push(std::function<void(value)> push) { push_ = std::move(push); }

void connection::on_write_paused(std::function<void(bool)> paused) { paused_ = std::move(paused); }

void connection::check_water_marks() {
  if (options_.write_high_water == 0) return;
  const auto unwritten = outbox_.size() + writing_.size();
  const bool pause =
      write_paused_ ? unwritten > options_.write_low_water : unwritten > options_.write_high_water;
  if (pause == write_paused_) return;
  write_paused_ = pause;
  if (paused_) paused_(pause);
}

void connection::start_write() {
  if (!writing_.empty() || outbox_.empty() || !open_) return;
  std::swap(writing_, outbox_);
  writing_count_ = unwritten_;
  unwritten_ = 0;
  stream_.write(asio::buffer(writing_),
                [self = shared_from_this()](std::error_code ec, std::size_t) {
                  // The commands in this write are the ones before the
                  // still-unwritten tail of pending_. They count as written
                  // even if the write failed: part of it may have reached
                  // Redis, so a non-idempotent one must not be re-sent.
                  const auto end = self->pending_.size() - self->unwritten_;
                  for (auto i = end - self->writing_count_; i < end; ++i) {
                    self->pending_[i].written = true;
                  }
                  if (ec) return self->abort(ec);
                  self->writing_.clear();
                  self->writing_count_ = 0;
                  self->start_write();
                  self->check_water_marks();
                });
}

void connection::start_read() {
  const auto size = inbox_.size();
  inbox_.resize(size + read_chunk);
  stream_.read_some(
      asio::buffer(inbox_.data() + size, read_chunk),
      [self = shared_from_this(), size](std::error_code ec, std::size_t n) {
        self->inbox_.resize(size + n);
        if (ec) return self->abort(ec);
        while (self->open_) {
          // Scan first (resumable), decode once the whole reply is in.
          const auto rest = std::string_view(self->inbox_).substr(self->inbox_used_);
          std::error_code decode_ec;
          const auto length = self->scanner_.scan(rest, decode_ec);
          if (decode_ec) return self->abort(decode_ec);
          if (length == 0) break;
          value v;
          const auto used = decode(rest.substr(0, length), v, decode_ec, self->options_.limits);
          if (decode_ec || used != length) {
            return self->abort(decode_ec ? decode_ec : make_error_code(errc::malformed_frame));
          }
          self->inbox_used_ += used;
          // Push messages (invalidation, pub/sub) are not replies; neither
          // is an array a RESP2 subscriber gets with no command waiting.
          if (v.type == resp_type::push ||
              (self->subscriber_ && self->pending_.empty() && v.type == resp_type::array)) {
            if (self->push_) self->push_(std::move(v));
            continue;
          }
          if (self->pending_.empty()) return self->abort(errc::malformed_frame);
          auto p = std::move(self->pending_.front());
          self->pending_.pop_front();
          p.handler({}, std::move(v), true);
        }
        if (!self->open_) return;
        // Drop what is decoded once it is most of the buffer.
        if (self->inbox_used_ > 0 && self->inbox_used_ * 2 >= self->inbox_.size()) {
          self->inbox_.erase(0, self->inbox_used_);
          self->inbox_used_ = 0;
        }
        self->start_read();
      });
}

void connection::close() {
  closed_ = true;
  abort(errc::aborted);
}

void connection::on_lost(std::function<void(std::error_code)> lost) { lost_ = std::move(lost); }

void connection::abort(std::error_code ec) {
  const bool was_open = open_;
  open_ = false;
  stream_.close();
  connect_timer_.cancel();
  auto failing = std::exchange(pending_, {});
  unwritten_ = 0;
  outbox_.clear();
  for (auto& p : failing) p.handler(ec, {}, p.written);
  if (was_open && ready_ && lost_ && ec != errc::aborted) {
    auto lost = std::move(lost_);
    lost_ = nullptr;
    lost(ec);
  }
}

}  // namespace brokerside::protocol::redis
