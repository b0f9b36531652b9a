// held_writes on a real loopback TCP connection: what MSG_MORE kept stays
// unsent until the release, which pushes it out; which writes of a turn
// are held. (That libgrpc's writes on a thread in run() are the ones asked
// about shows end to end in grpc_plumbing's
// responses_finished_in_one_handler_leave_together.)
#include "sidecar/held_writes.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <future>
#include <string>
#include <thread>

#include "protocol/dispatch_turn.h"
#include "tests/support/tcp_info.h"

namespace brokerside::sidecar {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

class held_writes_test : public ::testing::Test {
 protected:
  void SetUp() override {
    tcp::acceptor acceptor(io_, {asio::ip::address_v4::loopback(), 0});
    sender_.connect(acceptor.local_endpoint());
    acceptor.accept(receiver_);
    sender_.set_option(tcp::no_delay(true));
    if (!testing_support::read_tcp_info(fd(), info_)) GTEST_SKIP() << "kernel older than 4.6";
  }

  int fd() { return sender_.native_handle(); }

  std::uint32_t unsent() {
    EXPECT_TRUE(testing_support::read_tcp_info(fd(), info_));
    return info_.notsent_bytes;
  }

  asio::io_context io_;
  tcp::socket sender_{io_};
  tcp::socket receiver_{io_};
  testing_support::tcp_info_4_6 info_{};
};

TEST_F(held_writes_test, what_msg_more_kept_leaves_at_the_release) {
  const std::string message(100, 'x');
  ASSERT_EQ(::send(fd(), message.data(), message.size(), MSG_MORE), 100);
  ASSERT_EQ(unsent(), 100u);  // held: nothing pushes it before the release

  auto held = std::make_shared<held_writes>(io_);
  held->held(fd());
  held->held(fd());
  EXPECT_EQ(unsent(), 100u);
  EXPECT_EQ(io_.poll(), 1u);  // one release for both
  EXPECT_EQ(unsent(), 0u);
  std::string got(100, '\0');
  EXPECT_EQ(asio::read(receiver_, asio::buffer(got)), 100u);
  EXPECT_EQ(got, message);
}

TEST_F(held_writes_test, a_write_is_held_beside_another_or_after_a_busy_turn) {
  auto held = std::make_shared<held_writes>(io_);
  const int a = fd();
  const int b = receiver_.native_handle();
  EXPECT_FALSE(held->writing(a));  // a lone write goes at once
  EXPECT_TRUE(held->writing(a));   // a second in the same turn is held
  EXPECT_FALSE(held->writing(b));  // another socket's first is its own
  EXPECT_EQ(io_.poll(), 1u);       // one release ends the turn
  io_.restart();                   // poll() ran out of work
  EXPECT_TRUE(held->writing(a));   // a's last turn had two: held from the first
  EXPECT_FALSE(held->writing(b));  // b's had one
  EXPECT_EQ(io_.poll(), 1u);
  io_.restart();
  EXPECT_FALSE(held->writing(a));  // a's last turn had one again
  EXPECT_EQ(io_.poll(), 1u);
}

TEST_F(held_writes_test, a_turn_releases_its_own_writes_while_another_threads_is_open) {
  auto held = std::make_shared<held_writes>(io_);
  // Another thread schedules a release at the end of its turn, and keeps
  // that turn open until this thread's has ended.
  std::promise<void> scheduled;
  std::promise<void> checked;
  std::thread other([&] {
    protocol::dispatch_turn turn;
    held->held(receiver_.native_handle());
    scheduled.set_value();
    checked.get_future().wait();
  });
  scheduled.get_future().wait();
  {
    protocol::dispatch_turn turn;
    const std::string message(100, 'w');
    ASSERT_EQ(::send(fd(), message.data(), message.size(), MSG_MORE), 100);
    held->held(fd());
    EXPECT_EQ(unsent(), 100u);
  }
  EXPECT_EQ(unsent(), 0u);  // pushed at the end of this thread's turn
  checked.set_value();
  other.join();
}

TEST_F(held_writes_test, writes_that_are_not_grpcs_pass_untouched_inside_run) {
  auto held = std::make_shared<held_writes>(io_);
  std::uint32_t unsent_after_write = 1;
  asio::post(io_, [&] {
    // Asio writes two buffers with sendmsg, as libgrpc does; this thread
    // is in run(), but the caller is not libgrpc.
    const std::string head(40, 'y');
    const std::string tail(60, 'y');
    const std::array<asio::const_buffer, 2> message{asio::buffer(head), asio::buffer(tail)};
    asio::write(sender_, message);
    unsent_after_write = unsent();
  });
  std::thread runner([&] { held->run(); });
  runner.join();  // run() returns once the handler ran: no work left
  EXPECT_EQ(unsent_after_write, 0u);
  std::string got(100, '\0');
  EXPECT_EQ(asio::read(receiver_, asio::buffer(got)), 100u);
}

TEST_F(held_writes_test, a_socket_closed_before_its_release_does_not_stop_the_others) {
  const std::string message(10, 'z');
  ASSERT_EQ(::send(fd(), message.data(), message.size(), MSG_MORE), 10);
  auto held = std::make_shared<held_writes>(io_);
  const int gone = ::dup(fd());
  ::close(gone);
  held->held(gone);
  held->held(fd());
  EXPECT_EQ(io_.poll(), 1u);
  EXPECT_EQ(unsent(), 0u);  // EBADF on the one, the other pushed as ever
}

}  // namespace
}  // namespace brokerside::sidecar
