// protocol::driver against a toy session (frames: a length byte, then that
// many bytes; 0xff is not a frame) over an in-memory transport: the
// connection skeleton's behaviour, no sockets.
#include "protocol/driver.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "protocol/dispatch_turn.h"
#include "protocol/errc.h"
#include "tests/unit/protocol/memory_transport.h"

namespace brokerside::protocol {
namespace {

using namespace std::chrono_literals;

class toy_session final : public session {
 public:
  std::vector<std::uint64_t> ends;    // each queued op's end offset
  std::vector<bool> written;          // filled by on_abort
  std::vector<std::string> frames;    // received
  std::vector<std::uint64_t> handed;  // on_written calls
  std::function<void()> on_frame;     // after each frame
  std::string greeting, goodbye;      // on_open / farewell output
  int aborts = 0;
  std::error_code abort_ec;

  void queue(output& out, std::string_view payload) {
    out.bytes.push_back(static_cast<char>(payload.size()));
    out.bytes.append(payload);
    ends.push_back(out.end());
  }

  void on_open(output& out) override { out.bytes += greeting; }
  std::size_t consume(std::string_view in, output&, std::error_code& ec) override {
    if (in.empty()) return 0;
    const auto size = static_cast<std::uint8_t>(in[0]);
    if (size == 0xff) {
      ec = errc::malformed_frame;
      return 0;
    }
    if (in.size() < 1u + size) return 0;
    frames.emplace_back(in.substr(1, size));
    if (on_frame) on_frame();
    return 1u + size;
  }
  std::size_t wanted(std::string_view in) const noexcept override {
    return in.empty() ? 0 : 1u + static_cast<std::uint8_t>(in[0]);
  }
  void on_written(std::uint64_t h) noexcept override { handed.push_back(h); }
  void farewell(output& out) override { out.bytes += goodbye; }
  void on_abort(std::error_code ec, std::uint64_t handed_over) override {
    ++aborts;
    abort_ec = ec;
    written.clear();
    for (const auto end : ends) written.push_back(end <= handed_over);
  }
};

class driver_test : public ::testing::Test {
 protected:
  driver_test() : d_(io_.get_executor(), make_transport(), s_) {
    d_.set_owner(owner_);
    d_.on_lost([this](std::error_code ec) { lost_.push_back(ec); });
    d_.on_write_paused([this](bool paused) { paused_.push_back(paused); });
  }

  std::unique_ptr<transport> make_transport() {
    return std::make_unique<test::memory_transport>(io_.get_executor(), wire_);
  }

  // Connects and makes the connection ready.
  void open() {
    d_.connect({}, 10s, [this](std::error_code ec) { connected_.push_back(ec); });
    wire_->finish_connect();
    d_.handshake_done();
    ASSERT_EQ(connected_, std::vector<std::error_code>{std::error_code()});
  }

  void queue(std::string_view payload) {
    auto out = d_.out();
    s_.queue(out, payload);
    d_.flush();
  }

  boost::asio::io_context io_;
  std::shared_ptr<test::wire> wire_ = std::make_shared<test::wire>();
  std::shared_ptr<int> owner_ = std::make_shared<int>();
  toy_session s_;
  driver d_;
  std::vector<std::error_code> connected_, lost_;
  std::vector<bool> paused_;
};

TEST_F(driver_test, ops_queued_during_a_write_go_out_together_and_count_as_written) {
  open();
  queue("a");
  ASSERT_EQ(wire_->writes, std::vector<std::string>{"\x01"
                                                    "a"});
  queue("bb");
  queue("ccc");
  EXPECT_EQ(wire_->writes.size(), 1u);  // one write at a time
  wire_->finish_write();
  ASSERT_EQ(wire_->writes.size(), 2u);
  EXPECT_EQ(wire_->writes[1],
            "\x02"
            "bb\x03"
            "ccc");  // one write for the batch
  wire_->finish_write();
  EXPECT_EQ(s_.handed, (std::vector<std::uint64_t>{2, 9}));
  EXPECT_EQ(s_.ends, (std::vector<std::uint64_t>{2, 5, 9}));
  EXPECT_FALSE(wire_->writing());
  EXPECT_EQ(d_.unwritten(), 0u);
}

TEST_F(driver_test, inside_a_dispatch_turn_the_write_waits_for_its_end_and_takes_all) {
  open();
  {
    dispatch_turn turn;
    queue("a");
    queue("bb");
    EXPECT_TRUE(wire_->writes.empty());  // not the first alone
    EXPECT_EQ(d_.unwritten(), 5u);
  }
  ASSERT_EQ(wire_->writes, std::vector<std::string>{"\x01"
                                                    "a\x02"
                                                    "bb"});
  wire_->finish_write();
  EXPECT_EQ(s_.handed, (std::vector<std::uint64_t>{5}));
}

TEST_F(driver_test, a_connection_lost_before_its_turn_ends_never_wrote_what_waited) {
  open();
  {
    dispatch_turn turn;
    queue("a");
    wire_->fail_read(errc::connection_closed);
  }
  // "a" never reached the transport: safe to send again elsewhere.
  EXPECT_EQ(s_.written, std::vector<bool>{false});
  EXPECT_TRUE(wire_->writes.empty());
}

TEST_F(driver_test, a_failed_write_counts_as_written_and_the_loss_is_reported_once) {
  open();
  queue("a");
  queue("b");  // waits behind the write in flight
  wire_->finish_write(make_error_code(std::errc::broken_pipe));
  EXPECT_EQ(s_.aborts, 1);
  EXPECT_EQ(s_.abort_ec, std::errc::broken_pipe);
  // "a" may have reached the peer: it must not be re-sent. "b" never left.
  EXPECT_EQ(s_.written, (std::vector<bool>{true, false}));
  EXPECT_EQ(lost_, std::vector<std::error_code>{make_error_code(std::errc::broken_pipe)});
  EXPECT_TRUE(wire_->closed);
  d_.close();
  d_.abort(errc::connection_closed);
  io_.restart();
  io_.poll();
  EXPECT_EQ(s_.aborts, 1);
  EXPECT_EQ(lost_.size(), 1u);
}

TEST_F(driver_test, an_abort_while_writing_counts_the_write_in_flight_as_written) {
  open();
  queue("a");
  queue("b");
  wire_->fail_read(errc::connection_closed);
  EXPECT_EQ(s_.written, (std::vector<bool>{true, false}));
  EXPECT_EQ(lost_, std::vector<std::error_code>{make_error_code(errc::connection_closed)});
  io_.restart();
  io_.poll();  // the write's own completion, aborted, changes nothing
  EXPECT_EQ(s_.aborts, 1);
}

TEST_F(driver_test, an_explicit_close_fails_pending_once_and_reports_no_loss) {
  open();
  queue("a");
  d_.close();
  EXPECT_EQ(s_.aborts, 1);
  EXPECT_EQ(s_.abort_ec, errc::aborted);
  EXPECT_TRUE(lost_.empty());
  io_.restart();
  io_.poll();
  EXPECT_EQ(s_.aborts, 1);
  EXPECT_TRUE(lost_.empty());
}

TEST_F(driver_test, water_marks_pause_and_resume_with_hysteresis) {
  d_.set_options({.write_high_water = 10, .write_low_water = 4});
  open();
  queue("12345");  // 6 bytes, being written
  EXPECT_TRUE(paused_.empty());
  queue("12345");  // 12 unwritten: above the high mark
  EXPECT_EQ(paused_, std::vector<bool>{true});
  queue("1");  // still paused: no second call
  EXPECT_EQ(paused_, std::vector<bool>{true});
  wire_->finish_write();  // 8 left, above the low mark: still paused
  EXPECT_EQ(paused_, std::vector<bool>{true});
  EXPECT_TRUE(d_.write_paused());
  wire_->finish_write();  // drained
  EXPECT_EQ(paused_, (std::vector<bool>{true, false}));
}

TEST_F(driver_test, water_marks_resume_only_at_the_low_mark) {
  d_.set_options({.write_high_water = 10, .write_low_water = 4});
  open();
  queue(std::string(11, 'x'));  // 12 bytes in flight
  EXPECT_EQ(paused_, std::vector<bool>{true});
  queue("abcd");          // 5 bytes behind it
  wire_->finish_write();  // 5 unwritten: between the marks, still paused
  EXPECT_EQ(paused_, std::vector<bool>{true});
  queue("");  // 6
  wire_->finish_write();
  EXPECT_EQ(paused_, (std::vector<bool>{true, false}));
}

TEST_F(driver_test, a_frame_split_over_reads_survives_compaction) {
  d_.set_options({.read_chunk = 8});
  open();
  ASSERT_EQ(wire_->read_room, 8u);
  // A whole frame and the start of the next: the first is dropped from the
  // buffer (most of it is consumed), the second's start must stay intact.
  wire_->deliver(
      "\x04"
      "abcd\x05"
      "ef");
  EXPECT_EQ(s_.frames, std::vector<std::string>{"abcd"});
  // Room for the rest of the announced frame at least.
  EXPECT_GE(wire_->read_room, 3u);
  wire_->deliver("g");
  wire_->deliver(
      "hi\x02"
      "jk");
  EXPECT_EQ(s_.frames, (std::vector<std::string>{"abcd", "efghi", "jk"}));
}

TEST_F(driver_test, a_large_frame_gets_one_read_with_room_for_all_of_it) {
  d_.set_options({.read_chunk = 8});
  open();
  wire_->deliver(
      "\xc8"
      "abc");                         // 200 bytes announced, 3 in
  EXPECT_GE(wire_->read_room, 197u);  // 201 announced, 4 in
  wire_->deliver(std::string(197, 'x'));
  EXPECT_EQ(s_.frames, std::vector<std::string>{"abc" + std::string(197, 'x')});
}

TEST_F(driver_test, buffers_grown_by_a_large_message_are_freed_once_empty) {
  d_.set_options({.read_chunk = 8, .keep_buffer = 64});
  open();
  const auto small = d_.buffer_capacity();
  // A 200-byte frame in, in two reads: the read buffer grows for it...
  wire_->deliver("\xc8" + std::string(7, 'a'));
  EXPECT_GE(d_.buffer_capacity(), 200u);
  wire_->deliver(std::string(193, 'b'));
  ASSERT_EQ(s_.frames.size(), 1u);
  // ... and is let go once it is consumed, down to a read's room.
  EXPECT_LE(d_.buffer_capacity(), small + 64);
  // The same for a 200-byte write once it is written.
  queue(std::string(200, 'w'));
  wire_->finish_write();
  EXPECT_LE(d_.buffer_capacity(), small + 64);
  // Frames that fit keep their buffers: nothing is freed and allocated again.
  queue("x");
  wire_->finish_write();
  wire_->deliver("\x01y");
  EXPECT_EQ(s_.frames.back(), "y");
}

TEST_F(driver_test, input_that_cannot_be_decoded_aborts) {
  open();
  queue("a");
  wire_->deliver(
      "\x01"
      "z\xff");
  EXPECT_EQ(s_.frames, std::vector<std::string>{"z"});
  EXPECT_EQ(s_.aborts, 1);
  EXPECT_EQ(s_.abort_ec, errc::malformed_frame);
  EXPECT_EQ(lost_, std::vector<std::error_code>{make_error_code(errc::malformed_frame)});
  EXPECT_TRUE(wire_->closed);
  EXPECT_FALSE(wire_->reading());
}

TEST_F(driver_test, a_connect_past_its_deadline_fails_with_connect_timeout) {
  d_.connect({}, 1ms, [this](std::error_code ec) { connected_.push_back(ec); });
  while (connected_.empty()) io_.run_one();
  EXPECT_EQ(connected_, std::vector<std::error_code>{make_error_code(errc::connect_timeout)});
  EXPECT_TRUE(wire_->closed);
  EXPECT_TRUE(lost_.empty());  // never ready: nothing lost
}

TEST_F(driver_test, the_deadline_covers_the_handshake_and_on_open_output_goes_first) {
  s_.greeting = "HELLO";
  d_.connect({}, 10s, [this](std::error_code ec) { connected_.push_back(ec); });
  wire_->finish_connect();
  EXPECT_EQ(wire_->writes, std::vector<std::string>{"HELLO"});
  EXPECT_TRUE(connected_.empty());  // until handshake_done()
  d_.abort(errc::handshake_failed);
  EXPECT_EQ(connected_, std::vector<std::error_code>{make_error_code(errc::handshake_failed)});
  EXPECT_TRUE(lost_.empty());
}

TEST_F(driver_test, close_during_connect_completes_it_once_with_aborted) {
  d_.connect({}, 10s, [this](std::error_code ec) { connected_.push_back(ec); });
  d_.close();
  EXPECT_EQ(connected_, std::vector<std::error_code>{make_error_code(errc::aborted)});
  io_.restart();
  io_.poll();  // the transport's own aborted completion does not report again
  EXPECT_EQ(connected_.size(), 1u);
  EXPECT_EQ(s_.aborts, 1);
}

std::shared_ptr<const tls_context> client_context() {
  std::string error;
  auto context = make_tls_context({}, error);
  EXPECT_TRUE(context) << error;
  return context;
}

TEST_F(driver_test, start_tls_waits_for_the_input_and_the_write_then_resumes) {
  open();
  std::vector<std::error_code> upgraded;
  s_.on_frame = [&] {
    d_.start_tls(client_context(), "broker.example",
                 [&](std::error_code ec) { upgraded.push_back(ec); });
  };
  queue("a");  // a write in flight
  wire_->deliver(
      "\x04"
      "INFO");
  EXPECT_FALSE(wire_->reading());  // no plaintext read after the point of upgrade
  EXPECT_FALSE(wire_->tls_done);   // the write first
  queue("b");                      // goes out under TLS
  EXPECT_EQ(wire_->writes.size(), 1u);
  wire_->finish_write();
  ASSERT_TRUE(wire_->tls_done);
  EXPECT_EQ(wire_->tls_name, "broker.example");
  EXPECT_EQ(wire_->writes.size(), 1u);
  wire_->finish_tls();
  EXPECT_EQ(upgraded, std::vector<std::error_code>{std::error_code()});
  EXPECT_TRUE(wire_->reading());
  ASSERT_EQ(wire_->writes.size(), 2u);
  EXPECT_EQ(wire_->writes[1],
            "\x01"
            "b");
}

TEST_F(driver_test, start_tls_asked_while_consuming_with_nothing_being_written_waits_for_it) {
  open();
  std::vector<std::error_code> upgraded;
  s_.on_frame = [&] {
    s_.on_frame = nullptr;
    d_.start_tls(client_context(), "", [&](std::error_code ec) { upgraded.push_back(ec); });
  };
  wire_->deliver(
      "\x04"
      "INFO");  // NATS: TLS right after the server's INFO, no write out
  EXPECT_EQ(s_.aborts, 0);
  ASSERT_TRUE(wire_->tls_done);  // started once INFO counted as consumed
  wire_->finish_tls();
  EXPECT_EQ(upgraded, std::vector<std::error_code>{std::error_code()});
  EXPECT_TRUE(wire_->reading());
}

TEST_F(driver_test, plaintext_after_the_point_of_upgrade_aborts) {
  open();
  std::vector<std::error_code> upgraded;
  s_.on_frame = [&] {
    s_.on_frame = nullptr;
    d_.start_tls(client_context(), "", [&](std::error_code ec) { upgraded.push_back(ec); });
  };
  wire_->deliver(
      "\x04"
      "INFO\x01"
      "x");
  EXPECT_EQ(s_.frames, std::vector<std::string>{"INFO"});
  EXPECT_EQ(s_.abort_ec, errc::malformed_frame);
  io_.restart();
  io_.poll();
  EXPECT_EQ(upgraded, std::vector<std::error_code>{make_error_code(errc::malformed_frame)});
}

TEST_F(driver_test, a_failed_upgrade_aborts) {
  open();
  d_.start_tls(client_context(), "", [](std::error_code) {});
  wire_->deliver("");  // the read in flight ends; then the upgrade starts
  ASSERT_TRUE(wire_->tls_done);
  wire_->finish_tls(make_error_code(std::errc::connection_reset));
  EXPECT_EQ(s_.abort_ec, std::errc::connection_reset);
  EXPECT_EQ(lost_.size(), 1u);
}

TEST_F(driver_test, a_farewell_goes_out_after_the_abort_then_the_transport_closes) {
  open();
  queue("a");
  s_.goodbye = "bye";
  wire_->deliver("\xff");  // aborts, with "a" in flight
  EXPECT_EQ(s_.written, std::vector<bool>{true});
  EXPECT_FALSE(wire_->closed);
  wire_->finish_write();  // "a"
  ASSERT_EQ(wire_->writes.size(), 2u);
  EXPECT_EQ(wire_->writes[1], "bye");
  EXPECT_FALSE(wire_->closed);
  wire_->finish_write();
  EXPECT_TRUE(wire_->closed);
}

TEST_F(driver_test, close_when_written_waits_for_the_output) {
  open();
  queue("a");
  queue("b");
  d_.close_when_written(10s);
  EXPECT_TRUE(d_.draining());
  wire_->finish_write();
  EXPECT_FALSE(wire_->closed);
  wire_->finish_write();
  EXPECT_TRUE(wire_->closed);
  EXPECT_EQ(s_.abort_ec, errc::aborted);
  EXPECT_EQ(s_.written, (std::vector<bool>{true, true}));
  EXPECT_TRUE(lost_.empty());
}

}  // namespace
}  // namespace brokerside::protocol
