// The one connection skeleton every adapter runs on: it owns the transport
// (TCP, Unix, TLS, or an in-memory one in tests), the connect deadline,
// coalesced writes (what is queued while a write is in flight goes out in
// the next single write), the read loop and its buffer compaction, write
// high / low water marks, STARTTLS-style upgrades, and abort, which fails
// what is pending and reports the loss once. The protocol is a sans-io
// protocol::session; the adapter's connection holds both and glues them.
// Everything runs on the one executor given; no locks.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>

#include "protocol/session.h"
#include "protocol/transport.h"

namespace brokerside::protocol {

struct driver_options {
  std::size_t write_high_water = 0;        // unwritten bytes that pause; 0: never
  std::size_t write_low_water = 0;         // ... and that resume
  std::size_t read_chunk = 16 * 1024;      // room for each read (more when session::wanted says)
  std::chrono::milliseconds linger{1000};  // how long a farewell may take to go out
  // A read or write buffer grown beyond this (by a large reply or request)
  // is freed once it is empty, so one large message does not keep its
  // memory for the connection's life.
  std::size_t keep_buffer = 1 << 20;
};

class driver {
 public:
  using completion = std::function<void(std::error_code)>;

  // `s` outlives the driver (the connection holds both).
  driver(boost::asio::any_io_executor executor, std::unique_ptr<transport> io, session& s);
  ~driver();
  driver(const driver&) = delete;
  driver& operator=(const driver&) = delete;

  // The object that owns this driver and its session (the connection):
  // every operation in flight holds it, so it lives until they complete.
  // Set before connect() or start().
  void set_owner(std::weak_ptr<void> owner) noexcept { owner_ = std::move(owner); }
  void set_options(const driver_options& options) noexcept { options_ = options; }

  // Bytes the read and write buffers hold allocated now (for tests).
  std::size_t buffer_capacity() const noexcept {
    return inbox_.capacity() + outbox_.capacity() + writing_.capacity();
  }

  // Connects, tells the session (on_open), and reads. Completion: done(error)
  // once, on the executor: success when the session's handshake calls
  // handshake_done(), or the first failure (errc::connect_timeout once
  // `timeout` has passed; errc::aborted from inside close()).
  void connect(const endpoint& to, std::chrono::milliseconds timeout, completion done);

  // For a transport already connected (accepted by a listener): open and
  // ready at once.
  void start();

  // The handshake is over: the connect deadline stops, connect completes.
  void handshake_done();

  // Where to append output; flush() then writes it.
  output out() noexcept { return {outbox_, handed_}; }

  // Starts a write of what is queued unless one is in flight (its
  // completion starts the next), and checks the water marks.
  void flush();

  // Upgrades the open plain transport to TLS once the input being handled
  // and the write in flight are done; output queued meanwhile goes out
  // encrypted. Completion: done(error), once; a failure aborts. Input after
  // the point of upgrade (which would be plaintext) is errc::malformed_frame.
  void start_tls(std::shared_ptr<const tls_context> context, std::string server_name,
                 completion done);

  // Fails everything with `ec` (session::on_abort), writes the session's
  // farewell if any, and closes; once (a driver is not reused). Reports the
  // loss (on_lost) if the connection was ready and `ec` is not errc::aborted.
  void abort(std::error_code ec) { fail(ec); }

  // Closes now: pending operations fail with errc::aborted; no loss report.
  void close();

  // Closes once what is queued is written, or after `limit`.
  void close_when_written(std::chrono::milliseconds limit);

  // Called once if the connection breaks after it was ready.
  void on_lost(completion lost) { lost_ = std::move(lost); }

  // Called with true when the unwritten output passes write_high_water, with
  // false once it drains to write_low_water.
  void on_write_paused(std::function<void(bool)> paused) { paused_ = std::move(paused); }

  bool is_open() const noexcept { return open_; }
  bool is_ready() const noexcept { return ready_; }
  bool closed() const noexcept { return closed_; }
  bool draining() const noexcept { return draining_; }
  bool write_paused() const noexcept { return write_paused_; }
  // Bytes encoded and not yet written (the write in flight included).
  std::size_t unwritten() const noexcept { return outbox_.size() + writing_.size(); }
  transport& io() noexcept { return *io_; }
  const boost::asio::any_io_executor& executor() const noexcept { return executor_; }

 private:
  void fail(std::error_code ec);
  void on_deadline();
  void start_write();
  void on_write(std::error_code ec);
  void start_read();
  void on_read(std::error_code ec, std::size_t size, std::size_t n);
  void consume_input();
  void transport_failed(std::error_code ec);
  void check_water_marks();
  void upgrade_when_idle();
  void end_linger();

  boost::asio::any_io_executor executor_;  // every handler runs here
  std::unique_ptr<transport> io_;          // the bytes
  session& session_;                       // the protocol
  std::weak_ptr<void> owner_;              // held by each operation in flight
  driver_options options_;
  boost::asio::steady_timer deadline_;  // connect + handshake; then drain or linger
  completion connect_done_;             // until connect completes
  completion lost_;                     // told once when a ready connection breaks
  std::function<void(bool)> paused_;    // told when output passes / drains below the marks
  std::string outbox_;                  // encoded, not yet written
  std::string writing_;                 // being written
  bool write_deferred_ = false;         // a write waits for its dispatch turn's end
  std::uint64_t handed_ = 0;    // offset of outbox_[0]: all bytes before went to the transport
  std::string inbox_;           // read, not yet consumed
  std::size_t inbox_used_ = 0;  // consumed prefix of inbox_
  std::size_t wanted_ = 0;      // the size of the incomplete unit at inbox_used_, if known
  std::shared_ptr<const tls_context> tls_;  // start_tls(): the context ...
  std::string tls_name_;                    // ... the name to verify
  completion tls_done_;                     // ... and whom to tell
  bool open_ = false;                       // transport open and not aborted
  bool ready_ = false;                      // handshake done, not aborted
  bool closed_ = false;                     // close() was called
  bool failed_ = false;                     // aborted: the session has failed what was pending
  bool reading_ = false;                    // a read is in flight
  bool consuming_ = false;                  // the session is consuming input
  bool draining_ = false;                   // close_when_written()
  bool lingering_ = false;                  // aborted, the farewell still going out
  bool upgrading_ = false;                  // start_tls() asked, not yet begun
  bool write_paused_ = false;               // output passed the high-water mark, not yet drained
};

}  // namespace brokerside::protocol
