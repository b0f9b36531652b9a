// The pool's notion of time. Sans-io algorithms take `now` as an argument
// instead of reading a clock, so tests advance time instead of sleeping.
#pragma once

#include <chrono>

namespace brokerside::pool {

using clock = std::chrono::steady_clock;
using time_point = clock::time_point;
using millis = std::chrono::milliseconds;

}  // namespace brokerside::pool
