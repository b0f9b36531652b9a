#include "protocol/redis/subscriber_table.h"

#include <algorithm>

namespace brokerside::protocol::redis {

std::size_t subscriber_table::pick_link() const {
  if (load_.size() < max_links_ &&
      std::all_of(load_.begin(), load_.end(), [](std::size_t n) { return n > 0; })) {
    return load_.size();
  }
  return static_cast<std::size_t>(std::min_element(load_.begin(), load_.end()) - load_.begin());
}

std::vector<subscriber_table::command> subscriber_table::add(listener_id id, kind what,
                                                             std::span<const std::string> names,
                                                             bool& ready) {
  auto& l = listeners_[id];
  l.what = what;
  std::vector<command> out;
  for (const auto& name : names) {
    if (std::find(l.names.begin(), l.names.end(), name) != l.names.end()) continue;  // twice
    l.names.push_back(name);
    auto it = sources_.find(key{what, name});
    if (it == sources_.end()) {
      source s;
      s.link = pick_link();
      if (s.link == load_.size()) load_.push_back(0);
      ++load_[s.link];
      it = sources_.emplace(key{what, name}, std::move(s)).first;
      auto to = std::find_if(out.begin(), out.end(),
                             [&](const command& c) { return c.link == it->second.link; });
      if (to == out.end()) to = out.insert(out.end(), command{it->second.link, what, true, {}});
      to->names.push_back(name);
    }
    it->second.listeners.push_back(id);
    if (!it->second.confirmed) ++l.unconfirmed;
  }
  l.ready = ready = l.unconfirmed == 0;
  return out;
}

std::vector<subscriber_table::command> subscriber_table::remove(listener_id id) {
  std::vector<command> out;
  const auto found = listeners_.find(id);
  if (found == listeners_.end()) return out;
  const auto what = found->second.what;
  for (const auto& name : found->second.names) {
    const auto it = sources_.find(key{what, name});
    if (it == sources_.end()) continue;
    auto& ls = it->second.listeners;
    ls.erase(std::remove(ls.begin(), ls.end(), id), ls.end());
    if (!ls.empty()) continue;
    const auto link = it->second.link;
    --load_[link];
    auto to =
        std::find_if(out.begin(), out.end(), [&](const command& c) { return c.link == link; });
    if (to == out.end()) to = out.insert(out.end(), command{link, what, false, {}});
    to->names.push_back(name);
    if (!it->second.confirmed) ++stale_[{link, it->first}];
    sources_.erase(it);
  }
  listeners_.erase(found);
  return out;
}

std::vector<subscriber_table::listener_id> subscriber_table::confirmed(std::size_t link, kind what,
                                                                       std::string_view name) {
  std::vector<listener_id> now_ready;
  if (!stale_.empty()) {
    if (const auto s = stale_.find({link, key{what, std::string(name)}}); s != stale_.end()) {
      if (--s->second == 0) stale_.erase(s);
      return now_ready;
    }
  }
  const auto it = sources_.find(key{what, std::string(name)});
  if (it == sources_.end() || it->second.link != link || it->second.confirmed) return now_ready;
  it->second.confirmed = true;
  for (const auto id : it->second.listeners) {
    auto& l = listeners_[id];
    if (l.unconfirmed > 0 && --l.unconfirmed == 0 && !l.ready) {
      l.ready = true;
      now_ready.push_back(id);
    }
  }
  return now_ready;
}

std::vector<subscriber_table::listener_id> subscriber_table::dropped(std::size_t link, kind what,
                                                                     std::string_view name) {
  const auto it = sources_.find(key{what, std::string(name)});
  if (it == sources_.end() || it->second.link != link || !it->second.confirmed) return {};
  auto ids = std::move(it->second.listeners);
  --load_[link];
  sources_.erase(it);
  return ids;
}

const std::vector<subscriber_table::listener_id>* subscriber_table::listeners(
    kind what, std::string_view name) const {
  const auto it = sources_.find(key{what, std::string(name)});
  return it == sources_.end() ? nullptr : &it->second.listeners;
}

void subscriber_table::lost(std::size_t link) {
  // What the lost link still owed will never come.
  std::erase_if(stale_, [link](const auto& entry) { return entry.first.first == link; });
  for (auto& [k, s] : sources_) {
    if (s.link != link || !s.confirmed) continue;
    s.confirmed = false;
    // Listeners already ready stay so (their stream is open); the rest
    // wait for this source again.
    for (const auto id : s.listeners) {
      auto& l = listeners_[id];
      if (!l.ready) ++l.unconfirmed;
    }
  }
}

std::vector<subscriber_table::command> subscriber_table::restored(std::size_t link) const {
  std::vector<command> out;
  for (const auto& [k, s] : sources_) {
    if (s.link != link) continue;
    const auto what = k.first;  // (clang 14 cannot capture a structured binding)
    auto to =
        std::find_if(out.begin(), out.end(), [what](const command& c) { return c.what == what; });
    if (to == out.end()) to = out.insert(out.end(), command{link, what, true, {}});
    to->names.push_back(k.second);
  }
  return out;
}

std::vector<std::size_t> subscriber_table::load() const { return load_; }

bool is_message_kind(std::string_view type, subscriber_table::kind& what) noexcept {
  if (type == "message") {
    what = subscriber_table::kind::channel;
  } else if (type == "pmessage") {
    what = subscriber_table::kind::pattern;
  } else if (type == "smessage") {
    what = subscriber_table::kind::shard;
  } else {
    return false;
  }
  return true;
}

bool is_confirmation_kind(std::string_view type, subscriber_table::kind& what) noexcept {
  if (type == "subscribe") {
    what = subscriber_table::kind::channel;
  } else if (type == "psubscribe") {
    what = subscriber_table::kind::pattern;
  } else if (type == "ssubscribe") {
    what = subscriber_table::kind::shard;
  } else {
    return false;
  }
  return true;
}

bool is_unsubscription_kind(std::string_view type, subscriber_table::kind& what) noexcept {
  if (type == "unsubscribe") {
    what = subscriber_table::kind::channel;
  } else if (type == "punsubscribe") {
    what = subscriber_table::kind::pattern;
  } else if (type == "sunsubscribe") {
    what = subscriber_table::kind::shard;
  } else {
    return false;
  }
  return true;
}

const char* subscribe_command(subscriber_table::kind what, bool subscribe) noexcept {
  switch (what) {
    case subscriber_table::kind::channel:
      return subscribe ? "SUBSCRIBE" : "UNSUBSCRIBE";
    case subscriber_table::kind::pattern:
      return subscribe ? "PSUBSCRIBE" : "PUNSUBSCRIBE";
    case subscriber_table::kind::shard:
      return subscribe ? "SSUBSCRIBE" : "SUNSUBSCRIBE";
  }
  return "SUBSCRIBE";
}

}  // namespace brokerside::protocol::redis
