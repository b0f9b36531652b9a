#include "protocol/driver.h"

#include <algorithm>
#include <boost/asio/post.hpp>

#include "protocol/dispatch_turn.h"
#include "protocol/errc.h"

namespace brokerside::protocol {

namespace asio = boost::asio;

driver::driver(asio::any_io_executor executor, std::unique_ptr<transport> io, session& s)
    : executor_(executor), io_(std::move(io)), session_(s), deadline_(executor) {}

driver::~driver() = default;

void driver::connect(const endpoint& to, std::chrono::milliseconds timeout, completion done) {
  auto keep = owner_.lock();
  if (closed_ || failed_ || open_ || connect_done_ || !keep) {
    asio::post(executor_, [done = std::move(done)] { done(errc::aborted); });
    return;
  }
  connect_done_ = std::move(done);
  deadline_.expires_after(timeout);
  deadline_.async_wait([this, keep](boost::system::error_code ec) {
    if (!ec) on_deadline();
  });
  io_->connect(to, [this, keep](std::error_code ec) {
    if (!connect_done_) return;  // timed out or closed: already failed
    if (ec) return fail(ec);
    open_ = true;
    auto o = out();
    session_.on_open(o);
    if (!open_) return;  // the session's handshake_done() ran a caller who closed
    start_read();
    flush();
  });
}

void driver::start() {
  if (closed_ || failed_ || open_) return;
  open_ = true;
  ready_ = true;
  auto o = out();
  session_.on_open(o);
  start_read();
  flush();
}

void driver::handshake_done() {
  if (!open_) return;
  ready_ = true;
  deadline_.cancel();
  if (auto done = std::exchange(connect_done_, nullptr)) done({});
}

void driver::on_deadline() {
  if (connect_done_) return fail(errc::connect_timeout);
  if (lingering_) return end_linger();
  if (draining_) return close();
}

// --- writing ---

void driver::flush() {
  // Inside a dispatch turn the write waits for the turn's end, so that what
  // the rest of the turn queues (the other operations of a batch) goes out
  // in the same write.
  if (write_deferred_) return check_water_marks();
  if (writing_.empty() && dispatch_turn::open()) {
    if (auto keep = owner_.lock()) {
      write_deferred_ = true;
      dispatch_turn::defer([this, keep = std::move(keep)] {
        write_deferred_ = false;
        start_write();
      });
      return check_water_marks();
    }
  }
  start_write();
  check_water_marks();
}

void driver::start_write() {
  if (!writing_.empty() || outbox_.empty() || !(open_ || lingering_) || upgrading_) return;
  auto keep = owner_.lock();
  if (!keep) return;
  std::swap(writing_, outbox_);
  // From here the bytes may reach the peer, whatever the write's outcome:
  // an operation among them must not be re-sent as if it never went out.
  handed_ += writing_.size();
  io_->write(asio::buffer(writing_),
             [this, keep = std::move(keep)](std::error_code ec, std::size_t) { on_write(ec); });
}

void driver::on_write(std::error_code ec) {
  writing_.clear();
  if (writing_.capacity() > options_.keep_buffer) std::string().swap(writing_);
  session_.on_written(handed_);
  if (ec) return transport_failed(ec);
  if (lingering_) return outbox_.empty() ? end_linger() : start_write();
  if (!open_) return;
  if (draining_ && outbox_.empty()) return close();
  if (upgrading_) return upgrade_when_idle();
  start_write();
  check_water_marks();
}

void driver::check_water_marks() {
  if (options_.write_high_water == 0) return;
  const auto waiting = unwritten();
  const bool pause =
      write_paused_ ? waiting > options_.write_low_water : waiting > options_.write_high_water;
  if (pause == write_paused_) return;
  write_paused_ = pause;
  if (paused_) paused_(pause);
}

// --- reading ---

void driver::start_read() {
  auto keep = owner_.lock();
  if (!keep) return;
  // Room for the rest of a unit whose header is in, in one read if it is large.
  const auto have = inbox_.size() - inbox_used_;
  const auto want = std::max(options_.read_chunk, wanted_ > have ? wanted_ - have : 0);
  const auto size = inbox_.size();
  inbox_.resize(size + want);
  reading_ = true;
  io_->read_some(asio::buffer(inbox_.data() + size, want),
                 [this, keep = std::move(keep), size](std::error_code ec, std::size_t n) {
                   on_read(ec, size, n);
                 });
}

void driver::on_read(std::error_code ec, std::size_t size, std::size_t n) {
  reading_ = false;
  inbox_.resize(size + n);
  if (!open_) return;
  if (n > 0) session_.on_read(n);
  if (ec) return transport_failed(ec);
  {
    // What the replies of this read complete is flushed once, after them.
    dispatch_turn turn;
    consume_input();
  }
  if (!open_) return;
  // Drop what is consumed once it is most of the buffer: a unit partly
  // received stays, from its first byte, at the front.
  if (inbox_used_ > 0 && inbox_used_ * 2 >= inbox_.size()) {
    inbox_.erase(0, inbox_used_);
    inbox_used_ = 0;
    if (inbox_.empty() && inbox_.capacity() > options_.keep_buffer) std::string().swap(inbox_);
  }
  if (upgrading_) return upgrade_when_idle();
  start_read();
}

void driver::consume_input() {
  auto o = out();
  consuming_ = true;
  // After a start_tls() request what follows is not for the session.
  while (open_ && !upgrading_) {
    const auto rest = std::string_view(inbox_).substr(inbox_used_);
    std::error_code ec;
    const auto used = session_.consume(rest, o, ec);
    if (ec) {
      consuming_ = false;
      return fail(ec);
    }
    if (used == 0) {
      wanted_ = session_.wanted(rest);
      break;
    }
    inbox_used_ += used;
  }
  consuming_ = false;
  flush();
}

void driver::transport_failed(std::error_code ec) {
  if (!open_) return end_linger();
  fail(session_.on_transport_error(ec));
}

// --- TLS upgrade ---

void driver::start_tls(std::shared_ptr<const tls_context> context, std::string server_name,
                       completion done) {
  if (!open_ || upgrading_ || !context) {
    const std::error_code ec = !open_       ? make_error_code(errc::aborted)
                               : upgrading_ ? std::make_error_code(std::errc::operation_in_progress)
                                            : std::make_error_code(std::errc::invalid_argument);
    asio::post(executor_, [done = std::move(done), ec] { done(ec); });
    return;
  }
  upgrading_ = true;
  tls_ = std::move(context);
  tls_name_ = std::move(server_name);
  tls_done_ = std::move(done);
  upgrade_when_idle();
}

void driver::upgrade_when_idle() {
  // From inside consume (the session asked on seeing INFO): once the unit it
  // is consuming counts as used, on_read() comes back here.
  // What was queued before the upgrade goes out in plaintext first.
  if (write_deferred_) start_write();
  if (!upgrading_ || !open_ || reading_ || consuming_ || !writing_.empty()) return;
  if (inbox_used_ < inbox_.size()) return fail(errc::malformed_frame);
  auto keep = owner_.lock();
  if (!keep) return;
  io_->start_tls(std::exchange(tls_, nullptr), std::move(tls_name_),
                 [this, keep = std::move(keep)](std::error_code ec) {
                   upgrading_ = false;
                   auto done = std::exchange(tls_done_, nullptr);
                   if (!open_) ec = make_error_code(errc::aborted);
                   if (ec) {
                     fail(ec);
                   } else {
                     start_read();
                     flush();
                   }
                   if (done) done(ec);
                 });
}

// --- the end ---

void driver::close() {
  closed_ = true;
  fail(errc::aborted);
}

void driver::close_when_written(std::chrono::milliseconds limit) {
  if (closed_ || !open_ || unwritten() == 0) return close();
  if (draining_) return;
  draining_ = true;
  deadline_.expires_after(limit);
  deadline_.async_wait([this, keep = owner_.lock()](boost::system::error_code ec) {
    if (!ec) on_deadline();
  });
}

void driver::end_linger() {
  if (!lingering_) return;
  lingering_ = false;
  deadline_.cancel();
  io_->close();
}

void driver::fail(std::error_code ec) {
  // Once: what was pending has failed and the loss is reported. Closing
  // again only cuts a farewell short.
  if (failed_) return end_linger();
  failed_ = true;
  const bool was_open = open_;
  const bool was_ready = ready_;
  open_ = false;
  ready_ = false;
  draining_ = false;
  deadline_.cancel();
  if (upgrading_) {
    upgrading_ = false;
    tls_ = nullptr;
    if (auto done = std::exchange(tls_done_, nullptr)) {
      asio::post(executor_, [done = std::move(done), ec] { done(ec); });
    }
  }
  // What was handed over before the farewell: the operations' bytes.
  const auto handed = handed_;
  outbox_.clear();
  lingering_ = false;
  if (was_open) {
    auto o = out();
    session_.farewell(o);
  }
  if (!outbox_.empty()) {
    lingering_ = true;
    start_write();
    deadline_.expires_after(options_.linger);
    deadline_.async_wait([this, keep = owner_.lock()](boost::system::error_code e) {
      if (!e) on_deadline();
    });
  } else {
    io_->close();
  }
  session_.on_abort(ec, handed);
  if (auto done = std::exchange(connect_done_, nullptr)) done(ec);
  if (was_ready && ec != errc::aborted) {
    if (auto lost = std::exchange(lost_, nullptr)) lost(ec);
  }
}

}  // namespace brokerside::protocol
