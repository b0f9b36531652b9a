#include "protocol/kafka/event_pipe.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <thread>

namespace brokerside::protocol::kafka {

std::string event_pipe::open(rd_kafka_queue_t* queue) {
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
    return "cannot make a pipe for librdkafka's events";
  reader_.assign(fds[0]);
  writer_ = fds[1];
  rd_kafka_queue_io_event_enable(queue, writer_, "1", 1);
  return {};
}

void event_pipe::drain() {
  char bytes[256];
  while (::read(reader_.native_handle(), bytes, sizeof(bytes)) > 0) {
  }
}

void event_pipe::let_go(rd_kafka_t* rk, rd_kafka_queue_t* queue, bool leave_group,
                        std::function<void()> then, std::function<void()> before) {
  boost::system::error_code ignored;
  reader_.close(ignored);
  std::thread([rk, queue, leave_group, writer = std::exchange(writer_, -1), then = std::move(then),
               before = std::move(before), executor = reader_.get_executor()] {
    if (before) before();
    rd_kafka_queue_io_event_enable(queue, -1, nullptr, 0);
    rd_kafka_queue_destroy(queue);
    if (leave_group) rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (writer >= 0) ::close(writer);
    if (then) boost::asio::post(executor, then);
  }).detach();
}

}  // namespace brokerside::protocol::kafka
