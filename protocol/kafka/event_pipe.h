// How a librdkafka queue wakes Asio (producer.cc and consumer.cc share it):
// rd_kafka_queue_io_event_enable writes a byte to a pipe whenever the queue
// has events, and an Asio descriptor waits on the pipe's read end. And how
// librdkafka is let go: rd_kafka_destroy joins its threads, so never on an
// io thread. Internal to protocol/kafka (it names librdkafka's types).
#pragma once

#include <librdkafka/rdkafka.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <string>

namespace brokerside::protocol::kafka {

class event_pipe {
 public:
  explicit event_pipe(boost::asio::any_io_executor executor) : reader_(std::move(executor)) {}

  // Makes the pipe and has `queue` write to it: empty, or why not.
  std::string open(rd_kafka_queue_t* queue);

  // Calls handler(error_code) once the pipe is readable (or it was closed).
  template <typename Handler>
  void async_wait(Handler&& handler) {
    reader_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                       std::forward<Handler>(handler));
  }
  // Reads what the pipe holds (call before polling the queue).
  void drain();

  // Stops waiting, then on a thread of its own: runs `before` (if any),
  // detaches and destroys `queue`, leaves the group first when
  // `leave_group` (a consumer dropped without stopping), destroys `rk`,
  // closes the pipe, and posts `then` (if any) to the executor.
  void let_go(rd_kafka_t* rk, rd_kafka_queue_t* queue, bool leave_group,
              std::function<void()> then = {}, std::function<void()> before = {});

  boost::asio::any_io_executor executor() { return reader_.get_executor(); }

 private:
  boost::asio::posix::stream_descriptor reader_;  // the pipe's read end
  int writer_ = -1;                               // librdkafka writes here
};

}  // namespace brokerside::protocol::kafka
