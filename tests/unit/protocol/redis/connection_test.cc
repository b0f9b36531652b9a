// protocol::redis::connection over an in-memory transport: handshake,
// pipelining, written flags, pushes, water marks and the end, no sockets.
#include "protocol/redis/connection.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "protocol/errc.h"
#include "tests/unit/protocol/memory_transport.h"

namespace brokerside::protocol::redis {
namespace {

using namespace std::chrono_literals;

struct outcome {
  std::error_code ec;
  value v;
  bool written = false;
};

class redis_connection_test : public ::testing::Test {
 protected:
  ~redis_connection_test() override { wire_->drop(); }

  redis_connection_test()
      : conn_(connection::create(io_.get_executor(), std::make_unique<test::memory_transport>(
                                                         io_.get_executor(), wire_))) {
    conn_->on_lost([this](std::error_code ec) { lost_.push_back(ec); });
  }

  // Connects; the server answers HELLO with `hello_reply`.
  void connect(connect_options o = {}, std::string_view hello_reply = "%0\r\n") {
    conn_->connect(std::move(o), [this](std::error_code ec, std::string text) {
      connected_ = ec;
      connect_text_ = std::move(text);
      connect_done_ = true;
    });
    wire_->finish_connect();
    wire_->finish_write();  // HELLO
    wire_->deliver(hello_reply);
  }

  connection::reply_handler into(std::vector<outcome>& out) {
    return [&out](std::error_code ec, value v, bool written) {
      out.push_back({ec, std::move(v), written});
    };
  }

  boost::asio::io_context io_;
  std::shared_ptr<test::wire> wire_ = std::make_shared<test::wire>();
  std::shared_ptr<connection> conn_;
  std::vector<std::error_code> lost_;
  std::error_code connected_;
  std::string connect_text_;
  bool connect_done_ = false;
};

TEST_F(redis_connection_test, commands_during_a_write_are_coalesced_and_replies_come_in_order) {
  connect();
  ASSERT_TRUE(connect_done_);
  EXPECT_FALSE(connected_);
  EXPECT_EQ(conn_->protocol(), 3);
  std::vector<outcome> replies;
  conn_->execute({"GET", "a"}, into(replies));
  conn_->execute({"SET", "b", "1"}, into(replies));
  conn_->execute({"DEL", "c"}, into(replies));
  ASSERT_EQ(wire_->writes.size(), 2u);
  EXPECT_EQ(wire_->writes[1], "*2\r\n$3\r\nGET\r\n$1\r\na\r\n");
  wire_->finish_write();
  ASSERT_EQ(wire_->writes.size(), 3u);
  EXPECT_EQ(wire_->writes[2],
            "*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n1\r\n*2\r\n$3\r\nDEL\r\n$1\r\nc\r\n");
  wire_->finish_write();
  // A reply split over reads is put together; the others follow in order.
  wire_->deliver("$5\r\nhel");
  EXPECT_TRUE(replies.empty());
  wire_->deliver("lo\r\n+OK\r\n:1");
  wire_->deliver("\r\n");
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies[0].v.text, "hello");
  EXPECT_EQ(replies[1].v.text, "OK");
  EXPECT_EQ(replies[2].v.integer, 1);
  EXPECT_EQ(conn_->pending(), 0u);
}

TEST_F(redis_connection_test, a_failed_write_reports_its_commands_written_and_the_loss_once) {
  connect();
  std::vector<outcome> replies;
  conn_->execute({"INCR", "n"}, into(replies));  // in flight
  conn_->execute({"INCR", "m"}, into(replies));  // behind it
  wire_->finish_write(make_error_code(std::errc::broken_pipe));
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].ec, std::errc::broken_pipe);
  EXPECT_TRUE(replies[0].written);  // may have run: not to be re-sent
  EXPECT_FALSE(replies[1].written);
  EXPECT_EQ(lost_, std::vector<std::error_code>{make_error_code(std::errc::broken_pipe)});
  conn_->close();
  io_.restart();
  io_.poll();
  EXPECT_EQ(lost_.size(), 1u);
  EXPECT_EQ(replies.size(), 2u);
}

TEST_F(redis_connection_test, close_fails_pending_with_aborted_and_reports_no_loss) {
  connect();
  std::vector<outcome> replies;
  conn_->execute({"PING"}, into(replies));
  conn_->close();
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].ec, errc::aborted);
  io_.restart();
  io_.poll();
  EXPECT_TRUE(lost_.empty());
  conn_->execute({"PING"}, into(replies));
  io_.restart();
  io_.poll();
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[1].ec, errc::aborted);
  EXPECT_FALSE(replies[1].written);
}

TEST_F(redis_connection_test, a_refused_login_fails_connect_with_the_servers_text) {
  connect_options o;
  o.password = "wrong";
  connect(std::move(o), "-WRONGPASS invalid username-password pair\r\n");
  ASSERT_TRUE(connect_done_);
  EXPECT_EQ(connected_, errc::access_refused);
  EXPECT_EQ(connect_text_, "WRONGPASS invalid username-password pair");
  EXPECT_TRUE(wire_->closed);
  EXPECT_TRUE(lost_.empty());
}

TEST_F(redis_connection_test, resp2_fallback_then_select_before_connect_completes) {
  connect_options o;
  o.db = 4;
  connect(std::move(o), "-ERR unknown command 'HELLO'\r\n");
  EXPECT_FALSE(connect_done_);
  ASSERT_EQ(wire_->writes.size(), 2u);
  EXPECT_EQ(wire_->writes[1], "*2\r\n$6\r\nSELECT\r\n$1\r\n4\r\n");
  wire_->finish_write();
  wire_->deliver("+OK\r\n");
  ASSERT_TRUE(connect_done_);
  EXPECT_FALSE(connected_);
  EXPECT_EQ(conn_->protocol(), 2);
}

TEST_F(redis_connection_test, push_frames_are_not_replies) {
  connect();
  std::vector<value> pushes;
  conn_->on_push([&](value v) { pushes.push_back(std::move(v)); });
  std::vector<outcome> replies;
  conn_->execute({"PING"}, into(replies));
  wire_->deliver(">2\r\n$7\r\nmessage\r\n$1\r\nx\r\n+PONG\r\n");
  ASSERT_EQ(pushes.size(), 1u);
  EXPECT_EQ(pushes[0].type, resp_type::push);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].v.text, "PONG");
}

TEST_F(redis_connection_test, a_reply_nobody_asked_for_aborts) {
  connect();
  wire_->deliver("+OK\r\n");
  EXPECT_EQ(lost_, std::vector<std::error_code>{make_error_code(errc::malformed_frame)});
  EXPECT_TRUE(wire_->closed);
}

TEST_F(redis_connection_test, water_marks_pause_and_resume) {
  connect_options o;
  o.write_high_water = 40;
  o.write_low_water = 10;
  std::vector<bool> paused;
  conn_->on_write_paused([&](bool p) { paused.push_back(p); });
  connect(std::move(o));
  std::vector<outcome> replies;
  conn_->execute({"SET", "key", std::string(40, 'v')}, into(replies));
  EXPECT_EQ(paused, std::vector<bool>{true});
  wire_->finish_write();
  EXPECT_EQ(paused, (std::vector<bool>{true, false}));
}

TEST_F(redis_connection_test, a_connect_timeout_during_the_handshake) {
  connect_options o;
  o.timeout = 1ms;
  conn_->connect(std::move(o), [this](std::error_code ec, std::string) {
    connected_ = ec;
    connect_done_ = true;
  });
  wire_->finish_connect();
  while (!connect_done_) io_.run_one();
  EXPECT_EQ(connected_, errc::connect_timeout);
  EXPECT_TRUE(wire_->closed);
}

}  // namespace
}  // namespace brokerside::protocol::redis
