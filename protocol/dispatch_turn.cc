#include "protocol/dispatch_turn.h"

#include <vector>

namespace brokerside::protocol {
namespace {

// Posts kept for one strand until the turn ends.
struct strand_posts {
  io_strand strand;
  std::vector<std::function<void()>> work;
};

struct turn_state {
  int depth = 0;                            // turns open on this thread
  std::vector<std::function<void()>> work;  // deferred to the outermost's end
  std::vector<strand_posts> posts;          // kept to the outermost's end, by strand
};

thread_local turn_state this_thread;

void run_deferred() {
  // Index, not iterators: the work may defer more.
  for (std::size_t i = 0; i < this_thread.work.size(); ++i) {
    auto work = std::move(this_thread.work[i]);
    work();
  }
  this_thread.work.clear();
}

}  // namespace

dispatch_turn::dispatch_turn() noexcept { ++this_thread.depth; }

dispatch_turn::~dispatch_turn() {
  if (this_thread.depth > 1) {
    --this_thread.depth;
    return;
  }
  // Still open while the work runs: what it defers or posts joins this round.
  run_deferred();
  --this_thread.depth;
  auto posts = std::move(this_thread.posts);
  this_thread.posts.clear();
  for (auto& p : posts) {
    boost::asio::post(p.strand, [work = std::move(p.work)]() mutable {
      dispatch_turn turn;
      for (auto& w : work) w();
    });
  }
}

bool dispatch_turn::open() noexcept { return this_thread.depth > 0; }

bool dispatch_turn::defer(std::function<void()> work) {
  if (this_thread.depth == 0) return false;
  this_thread.work.push_back(std::move(work));
  return true;
}

void dispatch_turn::keep_post(const io_strand& strand, std::function<void()> work) {
  for (auto& p : this_thread.posts) {
    if (p.strand == strand) {
      p.work.push_back(std::move(work));
      return;
    }
  }
  this_thread.posts.push_back({strand, {}});
  this_thread.posts.back().work.push_back(std::move(work));
}

}  // namespace brokerside::protocol
