// The strand type pools, connections and accept loops run on. A strand over
// the io_context's own executor (24 bytes) fits any_io_executor's small-object
// buffer, so the copies of it that every async operation makes (its work
// guard, its completion's executor) allocate nothing; a strand over
// any_io_executor (72 bytes) cost a heap allocation on each of them — several
// per broker operation.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <stdexcept>

namespace brokerside::protocol {

using io_strand = boost::asio::strand<boost::asio::io_context::executor_type>;

// A new strand on the io_context behind `executor`: an io_context's executor,
// or a strand over one. Throws std::invalid_argument for any other kind.
inline io_strand make_io_strand(const boost::asio::any_io_executor& executor) {
  if (const auto* io = executor.target<boost::asio::io_context::executor_type>()) {
    return io_strand(*io);
  }
  if (const auto* strand = executor.target<io_strand>()) {
    return io_strand(strand->get_inner_executor());
  }
  throw std::invalid_argument("make_io_strand: not an io_context executor");
}

}  // namespace brokerside::protocol
