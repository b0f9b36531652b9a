// An in-memory protocol::transport for connection tests without sockets:
// the test sees each write and completes it, delivers bytes to the read in
// flight, and completes connect and start_tls when it likes. What the
// driver is told on close() comes posted, as from a real socket.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/errc.h"
#include "protocol/transport.h"

namespace brokerside::protocol::test {

// What the transport saw and what is in flight; the test keeps it after the
// driver owns the transport.
struct wire {
  std::vector<std::string> writes;      // each write()'s bytes, in order
  transport::io_completion write_done;  // the write in flight
  transport::io_completion read_done;   // the read in flight ...
  std::size_t read_room = 0;            // ... and how much it takes
  char* read_into = nullptr;
  transport::completion connect_done;  // connect() in flight
  transport::completion tls_done;      // start_tls() in flight
  std::string tls_name;                // what start_tls() was to verify
  int reads = 0;                       // read_some() calls
  bool closed = false;

  bool writing() const { return static_cast<bool>(write_done); }
  bool reading() const { return static_cast<bool>(read_done); }

  void finish_connect(std::error_code ec = {}) { std::exchange(connect_done, nullptr)(ec); }
  void finish_tls(std::error_code ec = {}) { std::exchange(tls_done, nullptr)(ec); }
  // Completes the write in flight: all of it, or nothing with `ec`.
  void finish_write(std::error_code ec = {}) {
    const auto n = ec ? 0 : writes.back().size();
    std::exchange(write_done, nullptr)(ec, n);
  }
  // Completes the read in flight with `bytes` (which must fit).
  void deliver(std::string_view bytes) {
    if (bytes.size() > read_room) throw std::logic_error("delivered more than the read takes");
    std::memcpy(read_into, bytes.data(), bytes.size());
    std::exchange(read_done, nullptr)({}, bytes.size());
  }
  void fail_read(std::error_code ec) { std::exchange(read_done, nullptr)(ec, 0); }
  // The test is over: drops what is in flight without completing it. Its
  // handlers keep their connection alive (as a socket's would until it is
  // closed), and this wire is the connection's: without this, the two keep
  // each other.
  void drop() {
    connect_done = nullptr;
    tls_done = nullptr;
    read_done = nullptr;
    write_done = nullptr;
  }
};

class memory_transport final : public transport {
 public:
  memory_transport(boost::asio::any_io_executor executor, std::shared_ptr<wire> w)
      : executor_(std::move(executor)), wire_(std::move(w)) {}

  void connect(const endpoint&, completion done) override { wire_->connect_done = std::move(done); }
  void start_tls(std::shared_ptr<const tls_context>, std::string name, completion done) override {
    wire_->tls_name = std::move(name);
    wire_->tls_done = std::move(done);
  }
  void read_some(boost::asio::mutable_buffer into, io_completion done) override {
    ++wire_->reads;
    wire_->read_into = static_cast<char*>(into.data());
    wire_->read_room = into.size();
    wire_->read_done = std::move(done);
  }
  void write(boost::asio::const_buffer bytes, io_completion done) override {
    wire_->writes.emplace_back(static_cast<const char*>(bytes.data()), bytes.size());
    wire_->write_done = std::move(done);
  }
  void close() override {
    if (wire_->closed) return;
    wire_->closed = true;
    // As a socket does: what is in flight ends with an error, later.
    const auto aborted = make_error_code(errc::aborted);
    if (auto d = std::exchange(wire_->connect_done, nullptr)) {
      boost::asio::post(executor_, [d, aborted] { d(aborted); });
    }
    if (auto d = std::exchange(wire_->read_done, nullptr)) {
      boost::asio::post(executor_, [d, aborted] { d(aborted, 0); });
    }
    if (auto d = std::exchange(wire_->write_done, nullptr)) {
      boost::asio::post(executor_, [d, aborted] { d(aborted, 0); });
    }
  }

 private:
  boost::asio::any_io_executor executor_;
  std::shared_ptr<wire> wire_;
};

}  // namespace brokerside::protocol::test
