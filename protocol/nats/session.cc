#include "protocol/nats/session.h"

#include <cctype>
#include <iterator>
#include <nlohmann/json.hpp>
#include <utility>

#include "protocol/errc.h"

namespace brokerside::protocol::nats {
namespace {

bool starts_with_word(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    const auto a = static_cast<char>(std::tolower(static_cast<unsigned char>(text[i])));
    const auto b = static_cast<char>(std::tolower(static_cast<unsigned char>(prefix[i])));
    if (a != b) return false;
  }
  return true;
}

// The subject a permissions -ERR names: Permissions Violation for Publish
// to "orders.eu" (nats-server quotes it).
std::string quoted_subject(std::string_view text) {
  const auto open = text.find('"');
  if (open == std::string_view::npos) return {};
  const auto close = text.find('"', open + 1);
  if (close == std::string_view::npos) return {};
  return std::string(text.substr(open + 1, close - open - 1));
}

}  // namespace

void session::reset(handshake_options options, const decoder_limits& limits, std::string inbox,
                    std::function<void()> upgrade,
                    std::function<void(std::error_code, const std::string&)> done) {
  options_ = std::move(options);
  limits_ = limits;
  inbox_ = std::move(inbox);
  upgrade_ = std::move(upgrade);
  done_ = std::move(done);
  state_ = state::awaiting_info;
  info_ = {};
  pongs_.clear();
  last_ping_end_ = 0;
  requests_.clear();
  next_sid_ = inbox_sid;
  last_error_.clear();
}

std::error_code session::on_info(const nats::info& i, output& out) {
  const auto json = nlohmann::json::parse(i.json, nullptr, false);
  if (!json.is_object()) return errc::malformed_frame;
  server_info s;
  s.server_id = json.value("server_id", "");
  s.version = json.value("version", "");
  s.max_payload = json.value("max_payload", std::uint64_t{1} << 20);
  s.headers = json.value("headers", false);
  s.tls_required = json.value("tls_required", false);
  s.lame_duck = json.value("ldm", false);
  if (const auto urls = json.find("connect_urls"); urls != json.end() && urls->is_array()) {
    for (const auto& u : *urls) {
      if (u.is_string()) s.connect_urls.push_back(u.get<std::string>());
    }
  }
  const bool was_lame_duck = info_.lame_duck;
  info_ = std::move(s);
  if (state_ != state::awaiting_info) {  // a later INFO: cluster news
    if (info_.lame_duck && !was_lame_duck && lame_duck_) std::exchange(lame_duck_, nullptr)();
    return {};
  }

  if (info_.tls_required && !options_.tls) {
    last_error_ = "the server requires TLS (use a tls:// URL)";
    return errc::handshake_failed;
  }
  if (options_.tls && upgrade_) upgrade_();
  nlohmann::json connect = {
      {"verbose", false},      {"pedantic", false},       {"tls_required", options_.tls},
      {"lang", "cpp"},         {"version", "brokerside"}, {"protocol", 1},
      {"headers", true},       {"no_responders", true},   {"echo", true},
      {"name", options_.name},
  };
  if (!options_.user.empty()) {
    connect["user"] = options_.user;
    connect["pass"] = options_.password;
  }
  if (!options_.token.empty()) connect["auth_token"] = options_.token;
  if (options_.nkey) {
    connect["nkey"] = nkey_public_key(*options_.nkey);
    connect["sig"] = nkey_sign(*options_.nkey, json.value("nonce", ""));
  }
  append_connect(out.bytes, connect.dump());
  // The inbox before the PING: its PONG then also says the SUB was taken.
  append_sub(out.bytes, inbox_ + "*", "", inbox_sid);
  append_ping(out.bytes);
  pongs_.push_back({{}, {}, out.end(), {}});
  state_ = state::awaiting_pong;
  return {};
}

std::size_t session::consume(std::string_view in, output& out, std::error_code& ec) {
  server_op op;
  const auto used = decode_server_op(in, op, ec, limits_);
  if (used == 0) return 0;
  if (const auto* i = std::get_if<nats::info>(&op)) {
    if (auto e = on_info(*i, out)) {
      ec = e;
      return 0;
    }
    return used;
  }
  if (state_ == state::awaiting_info) {
    ec = errc::malformed_frame;  // the server speaks first, with INFO
    return 0;
  }
  if (std::holds_alternative<nats::ping>(op)) {
    append_pong(out.bytes);
  } else if (std::holds_alternative<nats::pong>(op)) {
    // One PONG ends every waiter whose PING was moved behind the next's.
    bool more = true;
    while (more && !pongs_.empty()) {
      auto waiter = std::move(pongs_.front());
      pongs_.pop_front();
      more = waiter.shares_next;
      if (!waiter.done) {  // the handshake's
        if (state_ == state::awaiting_pong) {
          state_ = state::ready;
          if (done_) std::exchange(done_, nullptr)({}, {});
        }
        continue;
      }
      if (!waiter.refused.empty()) {
        waiter.done(errc::refused, true, waiter.refused);
      } else {
        waiter.done({}, true, {});
      }
    }
  } else if (auto* e = std::get_if<nats::err>(&op)) {
    on_error(std::move(e->text), ec);
    if (ec) return 0;
  } else if (auto* m = std::get_if<nats::msg>(&op)) {
    if (m->sid == inbox_sid) {
      on_reply(std::move(*m));
    } else if (const auto it = routes_.find(m->sid); it != routes_.end()) {
      // (Held: the handler may unsubscribe.)
      const auto handlers = it->second.handlers;
      if (handlers->message) handlers->message(std::move(*m));
    }
  }
  return used;
}

void session::on_error(std::string text, std::error_code& ec) {
  if (state_ != state::ready) {
    // 'Authorization Violation', 'User Authentication Expired', ...: the
    // login; anything else (a TLS mismatch) the handshake.
    const bool login = starts_with_word(text, "Authorization Violation") ||
                       text.find("Authentication") != std::string::npos;
    last_error_ = std::move(text);
    ec = login ? errc::access_refused : errc::handshake_failed;
    return;
  }
  // Refusals of one operation; the connection stays.
  if (starts_with_word(text, "Permissions Violation for Publish")) {
    const auto subject = quoted_subject(text);
    for (auto& w : pongs_) {
      if (w.done && w.refused.empty() && w.subject == subject) {
        w.refused = std::move(text);
        return;
      }
    }
  }
  if (starts_with_word(text, "Permissions Violation for Subscription")) {
    // Every subscription to that subject is refused; the server has none
    // of them. Taken out first: a handler may subscribe or unsubscribe.
    const auto subject = quoted_subject(text);
    std::vector<std::shared_ptr<const subscription_handlers>> refused;
    for (auto it = routes_.begin(); it != routes_.end();) {
      if (it->second.subject == subject) {
        refused.push_back(it->second.handlers);
        it = routes_.erase(it);
      } else {
        ++it;
      }
    }
    for (const auto& h : refused) {
      if (h->refused) h->refused(text);
    }
    return;
  }
  // Anything else is about the connection (the server closes it next):
  // kept for the report of its loss.
  last_error_ = std::move(text);
}

void session::on_reply(msg m) {
  if (!m.subject.starts_with(inbox_)) return;
  std::uint64_t token = 0;
  const auto text = std::string_view(m.subject).substr(inbox_.size());
  for (const char c : text) {
    if (c < '0' || c > '9') return;
    token = token * 10 + static_cast<std::uint64_t>(c - '0');
  }
  const auto it = requests_.find(token);
  if (it == requests_.end()) return;  // late: its requester gave up
  auto done = std::move(it->second.done);
  requests_.erase(it);
  header_block h;
  if (!m.headers.empty() && !decode_headers(m.headers, h) && h.status == 503) {
    return done(errc::refused, std::move(m), true);  // no responders
  }
  done({}, std::move(m), true);
}

std::error_code session::check(std::string_view headers, std::string_view payload) const {
  if (headers.size() + payload.size() > info_.max_payload) return errc::frame_too_large;
  if (!headers.empty() && !info_.headers) return errc::unsupported;
  return {};
}

std::error_code session::publish(std::string_view subject, std::string_view headers,
                                 std::string_view payload, confirm_handler done, output& out) {
  if (auto ec = check(headers, payload)) return ec;
  const auto from = out.end();
  if (headers.empty()) {
    append_pub(out.bytes, subject, {}, payload);
  } else {
    append_hpub(out.bytes, subject, {}, headers, payload);
  }
  // Once the PUB is out, it may have reached the server.
  append_ping_for({std::move(done), std::string(subject), out.end(), {}}, from, out);
  return {};
}

void session::append_ping_for(pong_waiter waiter, std::uint64_t from, output& out) {
  static constexpr std::string_view ping_line = "PING\r\n";
  const auto moved_from = last_ping_end_;
  bool moved = false;
  if (last_ping_end_ != 0 && from == last_ping_end_ && !pongs_.empty() &&
      last_ping_end_ >= out.base + ping_line.size()) {
    // Our last PING is still unwritten and nothing but this waiter's own
    // bytes follow it: take it out, so that the PING appended below is
    // answered for all (no other offset lies behind it to shift).
    const auto at = static_cast<std::size_t>(last_ping_end_ - ping_line.size() - out.base);
    if (std::string_view(out.bytes).substr(at, ping_line.size()) == ping_line) {
      out.bytes.erase(at, ping_line.size());
      pongs_.back().shares_next = true;
      if (waiter.end != 0) waiter.end -= ping_line.size();
      moved = true;
    }
  }
  append_ping(out.bytes);
  if (moved) {
    // The waiters that were to be answered by the PING taken out: those of
    // a PING alone counted it as their bytes, now the new one.
    for (auto it = pongs_.rbegin(); it != pongs_.rend(); ++it) {
      if (it->end == moved_from) it->end = out.end();
      if (std::next(it) != pongs_.rend() && !std::next(it)->shares_next) break;
    }
  }
  if (waiter.end == 0) waiter.end = out.end();
  last_ping_end_ = out.end();
  pongs_.push_back(std::move(waiter));
}

std::error_code session::request(std::string_view subject, std::string_view headers,
                                 std::string_view payload, reply_handler done, output& out,
                                 std::uint64_t& token) {
  if (auto ec = check(headers, payload)) return ec;
  token = ++next_token_;
  const auto reply = inbox_ + std::to_string(token);
  if (headers.empty()) {
    append_pub(out.bytes, subject, reply, payload);
  } else {
    append_hpub(out.bytes, subject, reply, headers, payload);
  }
  requests_.emplace(token, pending_request{std::move(done), out.end()});
  return {};
}

std::error_code session::send(std::string_view subject, std::string_view reply,
                              std::string_view payload, output& out) {
  if (auto ec = check({}, payload)) return ec;
  append_pub(out.bytes, subject, reply, payload);
  return {};
}

void session::ping(confirm_handler done, output& out) {
  append_ping_for({std::move(done), {}, 0, {}}, out.end(), out);
}

std::uint64_t session::subscribe(std::string_view subject, std::string_view queue,
                                 std::shared_ptr<const subscription_handlers> handlers,
                                 output& out) {
  const auto sid = ++next_sid_;
  routes_.emplace(sid, route{std::string(subject), std::move(handlers)});
  append_sub(out.bytes, subject, queue, sid);
  return sid;
}

void session::on_abort(std::error_code ec, std::uint64_t handed_over) {
  const auto was = state_;
  state_ = state::failed;
  auto pongs = std::exchange(pongs_, {});
  auto requests = std::exchange(requests_, {});
  if (was != state::ready && done_) std::exchange(done_, nullptr)(ec, last_error_);
  for (auto& w : pongs) {
    if (w.done) w.done(ec, w.end <= handed_over, {});
  }
  for (auto& [token, r] : requests) r.done(ec, {}, r.end <= handed_over);
}

}  // namespace brokerside::protocol::nats
