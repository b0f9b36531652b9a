// protocol::framed::connection over an in-memory transport: requests
// matched by id, the peer's requests, protocol errors, no sockets.
#include "protocol/framed/connection.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "protocol/errc.h"
#include "tests/unit/protocol/memory_transport.h"

namespace brokerside::protocol::framed {
namespace {

using namespace std::chrono_literals;

std::string frame(message_type type, std::int64_t id, value content) {
  std::string out;
  EXPECT_FALSE(append_message(out, codec::json, {type, id, std::move(content)}));
  return out;
}

// A JSON payload as a frame, whatever it says.
std::string frame_bytes(const std::string& json) {
  const auto n = static_cast<std::uint32_t>(json.size());
  return std::string{static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                     static_cast<char>(n >> 8), static_cast<char>(n)} +
         json;
}

value text(const char* s) { return value{std::string(s)}; }

struct answer {
  std::error_code ec;
  message_type type = message_type::request;
  value content;
  bool written = false;
};

class framed_connection_test : public ::testing::Test {
 protected:
  ~framed_connection_test() override { wire_->drop(); }

  framed_connection_test()
      : conn_(connection::create(io_.get_executor(), std::make_unique<test::memory_transport>(
                                                         io_.get_executor(), wire_))) {
    conn_->on_lost([this](std::error_code ec) { lost_.push_back(ec); });
    conn_->connect({}, [this](std::error_code ec) { connected_.push_back(ec); });
    wire_->finish_connect();
  }

  std::int64_t request(const char* content, std::vector<answer>& into) {
    std::int64_t id = -1;
    EXPECT_FALSE(conn_->request(
        text(content),
        [&into](std::error_code ec, message_type t, value v, bool written) {
          into.push_back({ec, t, std::move(v), written});
        },
        id));
    return id;
  }

  boost::asio::io_context io_;
  std::shared_ptr<test::wire> wire_ = std::make_shared<test::wire>();
  std::shared_ptr<connection> conn_;
  std::vector<std::error_code> lost_, connected_;
};

TEST_F(framed_connection_test, answers_in_any_order_reach_their_requests) {
  ASSERT_EQ(connected_, std::vector<std::error_code>{std::error_code()});
  std::vector<answer> a, b;
  EXPECT_EQ(request("a", a), 0);
  EXPECT_EQ(request("b", b), 1);
  ASSERT_EQ(wire_->writes.size(), 1u);
  wire_->finish_write();
  ASSERT_EQ(wire_->writes.size(), 2u);
  EXPECT_EQ(wire_->writes[1], frame(message_type::request, 1, text("b")));
  wire_->finish_write();
  EXPECT_EQ(conn_->in_flight(), 2u);
  wire_->deliver(frame(message_type::exception, 1, text("nope")) +
                 frame(message_type::result, 0, text("yes")));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].type, message_type::result);
  EXPECT_EQ(a[0].content, text("yes"));
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].type, message_type::exception);
  EXPECT_EQ(conn_->in_flight(), 0u);
}

TEST_F(framed_connection_test, an_answer_for_an_unknown_id_is_a_protocol_error) {
  std::vector<answer> a;
  request("a", a);
  wire_->deliver(frame(message_type::result, 7, text("?")));
  EXPECT_EQ(conn_->protocol_error(), "result for unknown msg_id 7");
  EXPECT_EQ(lost_, std::vector<std::error_code>{make_error_code(errc::malformed_frame)});
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].ec, errc::malformed_frame);
  EXPECT_TRUE(a[0].written);  // its write was in flight
}

TEST_F(framed_connection_test, an_unknown_message_type_is_named_in_the_protocol_error) {
  std::vector<answer> a;
  request("a", a);
  wire_->deliver(frame_bytes("[7, 0, \"x\"]"));
  EXPECT_EQ(conn_->protocol_error(),
            "msg_type 7, which the protocol does not have: 0 request, 1 result, 2 exception");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].ec, errc::unsupported);
}

TEST_F(framed_connection_test, a_peer_request_without_a_handler_is_answered_no_handler) {
  wire_->deliver(frame(message_type::request, 3, text("hi")));
  ASSERT_EQ(wire_->writes.size(), 1u);
  EXPECT_EQ(wire_->writes[0], frame(message_type::exception, 3, text("no handler")));
}

TEST_F(framed_connection_test, a_peer_request_is_handed_up_and_answered) {
  conn_->on_request([this](std::int64_t id, value content) {
    EXPECT_EQ(content, text("hi"));
    conn_->reply(id, message_type::result, text("ho"));
  });
  wire_->deliver(frame(message_type::request, 3, text("hi")));
  ASSERT_EQ(wire_->writes.size(), 1u);
  EXPECT_EQ(wire_->writes[0], frame(message_type::result, 3, text("ho")));
}

TEST_F(framed_connection_test, an_abandoned_answer_is_dropped) {
  std::vector<answer> a;
  const auto id = request("a", a);
  conn_->abandon(id);
  wire_->deliver(frame(message_type::result, id, text("late")));
  EXPECT_TRUE(a.empty());
  EXPECT_TRUE(lost_.empty());
  EXPECT_EQ(conn_->in_flight(), 0u);
}

TEST_F(framed_connection_test, close_when_written_flushes_then_closes_and_refuses_new_work) {
  std::vector<answer> a, late;
  request("a", a);
  conn_->close_when_written(10s);
  request("late", late);
  io_.restart();
  io_.poll();
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].ec, errc::aborted);
  EXPECT_FALSE(wire_->closed);
  wire_->finish_write();
  EXPECT_TRUE(wire_->closed);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].ec, errc::aborted);
  EXPECT_TRUE(a[0].written);
  EXPECT_TRUE(lost_.empty());
}

TEST_F(framed_connection_test, a_frame_beyond_max_frame_closes_before_it_is_buffered) {
  wire_->deliver(std::string("\x7f\xff\xff\xff", 4));
  EXPECT_EQ(lost_, std::vector<std::error_code>{make_error_code(errc::frame_too_large)});
}

}  // namespace
}  // namespace brokerside::protocol::framed
