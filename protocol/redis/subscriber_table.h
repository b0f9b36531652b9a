// Which of a target's shared subscriber connections ("links") carries which
// channel, pattern or shard channel, and for which listeners (Recv streams):
// the first listener of a source has it SUBSCRIBEd on the least loaded link,
// the last one to leave has it UNSUBSCRIBEd; a message fans out to every
// listener of its source; a listener is ready once all its sources are
// confirmed; a link restored after a loss subscribes all of its sources
// again. Sans-io: it says what to send; the caller owns the connections.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace brokerside::protocol::redis {

class subscriber_table {
 public:
  enum class kind { channel, pattern, shard };  // SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE
  using listener_id = std::uint64_t;

  // What to write on a link: e.g. {1, pattern, true, {"news.*"}} is
  // "PSUBSCRIBE news.*" on link 1.
  struct command {
    std::size_t link;
    kind what;
    bool subscribe;  // false: UNSUBSCRIBE / PUNSUBSCRIBE / SUNSUBSCRIBE
    std::vector<std::string> names;
    bool operator==(const command&) const = default;
  };

  // At most `max_links` links (at least 1).
  explicit subscriber_table(std::size_t max_links) : max_links_(max_links == 0 ? 1 : max_links) {}

  // Adds `listener` (new) for `names` of one kind. Returns what to send;
  // `ready` is set when every source is confirmed already.
  std::vector<command> add(listener_id listener, kind what, std::span<const std::string> names,
                           bool& ready);
  // Removes `listener`: what to send for the sources it was the last of.
  std::vector<command> remove(listener_id listener);

  // Link `link` confirmed its subscription to `name`: the listeners now
  // ready (all their sources confirmed), each once.
  std::vector<listener_id> confirmed(std::size_t link, kind what, std::string_view name);

  // Link `link`'s server ended its subscription to `name` by itself (Redis
  // Cluster's "sunsubscribe" when the shard channel's slot moves to another
  // node): the source is forgotten, and its listeners returned, for the
  // caller to subscribe them where the channel lives now. An unsubscribe
  // that answers our own (its source gone, or not yet confirmed again) is
  // not one: nothing is returned.
  std::vector<listener_id> dropped(std::size_t link, kind what, std::string_view name);

  // The listeners of a message on source `name` (a pattern's for a
  // pmessage), or null if none.
  const std::vector<listener_id>* listeners(kind what, std::string_view name) const;

  // Link `link` was lost: its sources are unconfirmed until restored().
  void lost(std::size_t link);
  // Link `link` is connected again: what to send on it.
  std::vector<command> restored(std::size_t link) const;

  // Sources on each link (index = link); links never used are not there.
  std::vector<std::size_t> load() const;

 private:
  struct source {
    std::size_t link = 0;
    bool confirmed = false;
    std::vector<listener_id> listeners;
  };
  struct listener {
    kind what = kind::channel;
    std::vector<std::string> names;
    std::size_t unconfirmed = 0;  // sources not yet confirmed
    bool ready = false;
  };
  using key = std::pair<kind, std::string>;

  // The link for a new source: a link not yet used while every used one
  // carries a source, else the least loaded.
  std::size_t pick_link() const;

  std::size_t max_links_;
  std::map<key, source, std::less<>> sources_;
  std::unordered_map<listener_id, listener> listeners_;
  std::vector<std::size_t> load_;  // sources per link
  // Confirmations still to come for sources removed before theirs came, by
  // link and source: ignored when they come, or a source added again in
  // the meantime would be taken for confirmed before its own SUBSCRIBE.
  std::map<std::pair<std::size_t, key>, std::size_t> stale_;
};

// The source kind and name, and the source the message was published to, of
// a pub/sub push frame's first elements ("message", "pmessage", "smessage");
// false for anything else (confirmations included).
bool is_message_kind(std::string_view type, subscriber_table::kind& what) noexcept;
// The kind a confirmation names ("subscribe", "psubscribe", "ssubscribe");
// false for anything else.
bool is_confirmation_kind(std::string_view type, subscriber_table::kind& what) noexcept;
// The kind an unsubscription names ("unsubscribe", "punsubscribe",
// "sunsubscribe"); false for anything else.
bool is_unsubscription_kind(std::string_view type, subscriber_table::kind& what) noexcept;
// The command that (un)subscribes sources of a kind: "SUBSCRIBE", "PUNSUBSCRIBE", ...
const char* subscribe_command(subscriber_table::kind what, bool subscribe) noexcept;

}  // namespace brokerside::protocol::redis
