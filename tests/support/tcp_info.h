// What a TCP socket has sent, as Linux counts it: glibc's tcp_info stops at
// Linux 4.2's fields, and <linux/tcp.h>, which has the rest, cannot be
// included beside <netinet/tcp.h> (Asio's).
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

namespace brokerside::testing_support {

// Linux's tcp_info up to data_segs_out (4.6), its layout.
struct tcp_info_4_6 {
  tcp_info glibc;
  std::uint64_t pacing_rate, max_pacing_rate, bytes_acked, bytes_received;
  std::uint32_t segs_out, segs_in, notsent_bytes, min_rtt, data_segs_in, data_segs_out;
};
static_assert(offsetof(tcp_info_4_6, data_segs_out) == 156);

// The socket's counts; false if it is not a TCP socket or the kernel is
// older than 4.6.
inline bool read_tcp_info(int fd, tcp_info_4_6& out) {
  out = {};
  socklen_t size = sizeof out;
  return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &out, &size) == 0 && size >= sizeof out;
}

}  // namespace brokerside::testing_support
