#include "coordinator/watch/watch_server.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <mutex>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/answer_tag.h"
#include "common/log.h"
#include "coordinator/api/proto_convert.h"
#include "coordinator/watch/http_listen.h"

namespace drover::watch {
namespace {

constexpr absl::string_view kPath = "/v1/watch";
constexpr size_t kMaxQueryBytes = 2048;

void UsePthreadsOnce() {
  static std::once_flag once;
  std::call_once(once, [] { evthread_use_pthreads(); });
}

class WatchServerImpl final : public WatchServer {
 public:
  WatchServerImpl(const WatchOptions& options, AnswerTags* tags)
      : options_(options), tags_(tags), rng_(std::random_device{}()) {}

  ~WatchServerImpl() override { Shutdown(); }

  absl::Status Init() {
    UsePthreadsOnce();
    absl::StatusOr<evutil_socket_t> fd = ListenHttp("--watch_listen", "the watch endpoint", options_.listen);
    if (!fd.ok()) return fd.status();
    address_ = BoundAddress(options_.listen, *fd);
    base_ = event_base_new();
    http_ = evhttp_new(base_);
    if (base_ == nullptr || http_ == nullptr || evhttp_accept_socket(http_, *fd) != 0) {
      close(*fd);
      return absl::InternalError("cannot set up the watch endpoint's event loop");
    }
    evhttp_set_allowed_methods(http_, EVHTTP_REQ_GET);
    evhttp_set_max_headers_size(http_, 8192);
    evhttp_set_max_body_size(http_, 0);
    // A request being held is answered by us; this bounds only a connection
    // that sends nothing (an idle keep-alive between polls, a slow client).
    evhttp_set_timeout(http_, static_cast<int>(absl::ToInt64Seconds(options_.hold) + 60));
    evhttp_set_gencb(http_, &WatchServerImpl::OnRequest, this);
    wake_ = event_new(base_, -1, 0, &WatchServerImpl::OnWake, this);
    sweep_ = event_new(base_, -1, EV_PERSIST, &WatchServerImpl::OnSweep, this);
    timeval second{1, 0};
    event_add(sweep_, &second);
    loop_ = std::thread([this] { event_base_dispatch(base_); });
    checker_ = std::thread([this] { CheckLoop(); });
    return absl::OkStatus();
  }

  std::string address() const override { return address_; }

  void ChannelChanged(const std::string& channel) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      announced_.insert(channel);
    }
    cv_.notify_all();
  }

  size_t waiting() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return waiters_.size();
  }

  const WatchCounters& counters() const override { return counters_; }

  void Shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    cv_.notify_all();
    if (checker_.joinable()) checker_.join();
    if (base_ != nullptr) event_base_loopbreak(base_);
    if (loop_.joinable()) loop_.join();
    // Closes every connection; updaters reconnect (to another replica, or
    // to this one once it is back) with their backoff.
    {
      std::lock_guard<std::mutex> lock(mu_);
      waiters_.clear();
      by_channel_.clear();
      by_conn_.clear();
    }
    if (http_ != nullptr) evhttp_free(http_);
    if (wake_ != nullptr) event_free(wake_);
    if (sweep_ != nullptr) event_free(sweep_);
    if (base_ != nullptr) event_base_free(base_);
    http_ = nullptr;
    wake_ = sweep_ = nullptr;
    base_ = nullptr;
  }

 private:
  struct Waiter {
    std::string channel;
    HostKey host;
    std::string tag;
    evhttp_request* request = nullptr;
    evhttp_connection* connection = nullptr;
    absl::Time deadline;
  };

  static void Reply(evhttp_request* req, int code, const char* reason, absl::string_view body,
                    absl::Duration retry_after = absl::ZeroDuration()) {
    evkeyvalq* headers = evhttp_request_get_output_headers(req);
    evhttp_add_header(headers, "Cache-Control", "no-store");
    if (retry_after > absl::ZeroDuration()) {
      evhttp_add_header(headers, "Retry-After", absl::StrCat(absl::ToInt64Seconds(retry_after)).c_str());
    }
    if (body.empty()) {
      evhttp_send_reply(req, code, reason, nullptr);
      return;
    }
    evhttp_add_header(headers, "Content-Type", "text/plain; charset=utf-8");
    evbuffer* buf = evbuffer_new();
    evbuffer_add(buf, body.data(), body.size());
    evhttp_send_reply(req, code, reason, buf);
    evbuffer_free(buf);
  }

  void Refuse(evhttp_request* req, int code, const char* reason, absl::string_view message,
              absl::Duration retry_after = absl::ZeroDuration()) {
    counters_.refused.fetch_add(1, std::memory_order_relaxed);
    Reply(req, code, reason, absl::StrCat(message, "\n"), retry_after);
  }

  static void OnRequest(evhttp_request* req, void* arg) { static_cast<WatchServerImpl*>(arg)->Handle(req); }

  void Handle(evhttp_request* req) {
    const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
    const char* path = uri == nullptr ? nullptr : evhttp_uri_get_path(uri);
    if (path == nullptr || kPath != path) {
      return Refuse(req, HTTP_NOTFOUND, "Not Found",
                    absl::StrCat("unknown path; the watch endpoint is GET ", kPath,
                                 "?channel=...&host_id=...&group=...&tag=..."));
    }
    const char* query = evhttp_uri_get_query(uri);
    if (query != nullptr && strlen(query) > kMaxQueryBytes) {
      return Refuse(req, HTTP_BADREQUEST, "Bad Request", absl::StrCat("query longer than ", kMaxQueryBytes, " bytes"));
    }
    evkeyvalq params;
    TAILQ_INIT(&params);
    if (evhttp_parse_query_str(query == nullptr ? "" : query, &params) != 0) {
      evhttp_clear_headers(&params);
      return Refuse(req, HTTP_BADREQUEST, "Bad Request", "the query string is not URL-encoded key=value pairs");
    }
    auto param = [&](const char* key) {
      const char* v = evhttp_find_header(&params, key);
      return std::string(v == nullptr ? "" : v);
    };
    std::string channel = param("channel");
    HostKey host{param("host_id"), param("group")};
    std::string tag = absl::AsciiStrToLower(param("tag"));
    evhttp_clear_headers(&params);
    if (absl::StartsWith(channel, "channels/")) channel = channel.substr(9);
    absl::Status bad = api::ValidateChannelId("channel", channel);
    if (bad.ok()) bad = api::ValidateHostId("host_id", host.host_id);
    if (bad.ok()) bad = api::ValidateGroup("group", host.group);
    if (bad.ok() && !tag.empty() && !IsAnswerTagSyntax(tag)) {
      bad = absl::InvalidArgumentError(absl::StrCat("tag \"", tag.substr(0, 80), "\" is not 1 to 64 hex digits"));
    }
    if (!bad.ok()) return Refuse(req, HTTP_BADREQUEST, "Bad Request", bad.message());

    std::vector<std::string> current;
    absl::Status s = tags_->TagsFor(channel, {host}, &current);
    if (absl::IsNotFound(s)) return Refuse(req, HTTP_NOTFOUND, "Not Found", s.message());
    if (!s.ok() || current.size() != 1) {
      // The answer cannot be read (a database outage the caches cannot
      // cover): the updater keeps polling meanwhile.
      return Refuse(req, 503, "Service Unavailable", "the target answer cannot be read now; retry later",
                    options_.retry_after);
    }
    if (current[0] != tag) {
      counters_.changed.fetch_add(1, std::memory_order_relaxed);
      return Reply(req, HTTP_OK, "OK", absl::StrCat("tag=", current[0], "\n"));
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (waiters_.size() >= options_.max_connections) {
      lock.unlock();
      return Refuse(req, 503, "Service Unavailable",
                    absl::StrCat("more than ", options_.max_connections,
                                 " updaters are watching this coordinator (--watch_max_connections); poll instead"),
                    options_.retry_after);
    }
    std::uniform_real_distribution<double> jitter(1 - options_.hold_jitter, 1 + options_.hold_jitter);
    const uint64_t id = ++next_id_;
    evhttp_connection* conn = evhttp_request_get_connection(req);
    waiters_.emplace(id, Waiter{channel, std::move(host), std::move(tag), req, conn,
                                absl::Now() + options_.hold * jitter(rng_)});
    by_channel_[channel].insert(id);
    by_conn_[conn] = id;
    lock.unlock();
    evhttp_connection_set_closecb(conn, &WatchServerImpl::OnClose, this);
  }

  // libevent gave up on a connection while its request was held (an idle
  // timeout): the request was detached from it and is ours to free.
  static void OnClose(evhttp_connection* conn, void* arg) {
    auto* self = static_cast<WatchServerImpl*>(arg);
    evhttp_request* req = nullptr;
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      auto it = self->by_conn_.find(conn);
      if (it == self->by_conn_.end()) return;
      const uint64_t id = it->second;
      self->by_conn_.erase(it);
      req = self->EraseLocked(id);
    }
    self->counters_.closed.fetch_add(1, std::memory_order_relaxed);
    if (req != nullptr && evhttp_request_get_connection(req) == nullptr) evhttp_request_free(req);
  }

  // libevent does not read a connection whose request is being answered,
  // so it never sees an updater hang up while held; without this its slot
  // would stay taken for the rest of the hold. A peek finds the FIN.
  void ReapHungUp() {
    std::vector<evhttp_connection*> gone;
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::vector<uint64_t> ids;
      for (const auto& [id, w] : waiters_) {
        const evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(w.connection));
        char byte;
        if (fd >= 0 && recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0) ids.push_back(id);
      }
      for (uint64_t id : ids) {
        evhttp_connection* conn = waiters_.at(id).connection;
        EraseLocked(id);
        by_conn_.erase(conn);
        gone.push_back(conn);
      }
    }
    for (evhttp_connection* conn : gone) {
      counters_.closed.fetch_add(1, std::memory_order_relaxed);
      evhttp_connection_free(conn);  // and the request held on it
    }
  }

  // Removes waiter `id`; returns its request (null if it was gone).
  evhttp_request* EraseLocked(uint64_t id) {
    auto it = waiters_.find(id);
    if (it == waiters_.end()) return nullptr;
    evhttp_request* req = it->second.request;
    auto ch = by_channel_.find(it->second.channel);
    if (ch != by_channel_.end()) {
      ch->second.erase(id);
      if (ch->second.empty()) by_channel_.erase(ch);
    }
    auto conn = by_conn_.find(it->second.connection);
    if (conn != by_conn_.end() && conn->second == id) by_conn_.erase(conn);
    waiters_.erase(it);
    return req;
  }

  // Loop thread: answers what the checker found changed, a slice at a
  // time: an answer is written only once this callback returns, so
  // answering 10,000 in one go would hold back the first until the last
  // was formatted. The rest waits for a zero timer, after the writes.
  static void OnWake(evutil_socket_t, short, void* arg) {
    constexpr size_t kSlice = 256;
    auto* self = static_cast<WatchServerImpl*>(arg);
    std::vector<std::pair<evhttp_request*, std::string>> replies;
    bool more = false;
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      while (!self->outbox_.empty() && replies.size() < kSlice) {
        auto [id, tag] = std::move(self->outbox_.back());
        self->outbox_.pop_back();
        if (evhttp_request* req = self->EraseLocked(id); req != nullptr) replies.emplace_back(req, std::move(tag));
      }
      more = !self->outbox_.empty();
    }
    if (more) {
      timeval zero{0, 0};
      event_add(self->wake_, &zero);
    }
    for (auto& [req, tag] : replies) {
      self->counters_.changed.fetch_add(1, std::memory_order_relaxed);
      Reply(req, HTTP_OK, "OK", absl::StrCat("tag=", tag, "\n"));
    }
  }

  // Loop thread, every second: held requests whose hold is over get 204.
  static void OnSweep(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<WatchServerImpl*>(arg);
    const absl::Time now = absl::Now();
    std::vector<evhttp_request*> expired;
    {
      std::lock_guard<std::mutex> lock(self->mu_);
      std::vector<uint64_t> ids;
      for (const auto& [id, w] : self->waiters_) {
        if (w.deadline <= now) ids.push_back(id);
      }
      for (uint64_t id : ids) expired.push_back(self->EraseLocked(id));
    }
    for (evhttp_request* req : expired) {
      self->counters_.held.fetch_add(1, std::memory_order_relaxed);
      Reply(req, HTTP_NOCONTENT, "No Content", "");
    }
    // A recv per held connection: every few seconds, not every second.
    if (++self->sweeps_ % 3 == 0) self->ReapHungUp();
  }

  void CheckLoop() {
    absl::Time next_full = absl::Now() + options_.recheck;
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopped_) {
      cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(1, absl::ToInt64Milliseconds(next_full - absl::Now()))),
                   [this] { return stopped_ || !announced_.empty(); });
      if (stopped_) break;
      absl::flat_hash_set<std::string> announced;
      announced.swap(announced_);
      std::vector<std::string> channels;
      const bool full = absl::Now() >= next_full || announced.contains("");
      if (full) {
        next_full = absl::Now() + options_.recheck;
        for (const auto& [channel, ids] : by_channel_) channels.push_back(channel);
      } else {
        for (const std::string& c : announced) {
          if (by_channel_.contains(c)) channels.push_back(c);
        }
      }
      lock.unlock();
      // Announced first, so a change is read afresh, not from a cache entry
      // loaded just before it.
      for (const std::string& c : announced) {
        if (!c.empty()) tags_->Invalidate(c);
      }
      if (announced.contains("")) {
        for (const std::string& c : channels) tags_->Invalidate(c);
      }
      for (const std::string& c : channels) {
        // The periodic re-check re-tags a channel only when something its
        // tags depend on moved; an announced one is re-tagged regardless.
        absl::StatusOr<std::string> version = tags_->ChannelVersion(c);
        if (!announced.contains(c) && !announced.contains("") && version.ok()) {
          auto it = versions_.find(c);
          if (it != versions_.end() && it->second == *version) continue;
        }
        if (CheckChannel(c) && version.ok()) versions_[c] = *version;
      }
      lock.lock();
      // Forget channels nobody watches any more.
      for (auto it = versions_.begin(); it != versions_.end();) {
        if (by_channel_.contains(it->first)) {
          ++it;
        } else {
          versions_.erase(it++);
        }
      }
    }
  }

  // Recomputes the tags of `channel`'s waiting hosts; those that differ go
  // to the loop thread to be answered. False when the tags could not be read.
  bool CheckChannel(const std::string& channel) {
    std::vector<uint64_t> ids;
    std::vector<HostKey> hosts;
    std::vector<std::string> known;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = by_channel_.find(channel);
      if (it == by_channel_.end()) return true;
      ids.reserve(it->second.size());
      for (uint64_t id : it->second) {
        const Waiter& w = waiters_.at(id);
        ids.push_back(id);
        hosts.push_back(w.host);
        known.push_back(w.tag);
      }
    }
    std::vector<std::string> current;
    absl::Status s = tags_->TagsFor(channel, hosts, &current);
    if (absl::IsNotFound(s)) {
      // Deleted: an empty tag differs from every tag, so each runs a pass,
      // which then hears the channel is gone.
      current.assign(ids.size(), "");
    } else if (!s.ok() || current.size() != ids.size()) {
      return false;  // unreadable now: the next recheck tries again
    }
    std::vector<std::pair<uint64_t, std::string>> changed;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (current[i] != known[i]) changed.emplace_back(ids[i], std::move(current[i]));
    }
    if (changed.empty()) return true;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& c : changed) outbox_.push_back(std::move(c));
    }
    event_active(wake_, 0, 0);
    return true;
  }

  const WatchOptions options_;
  AnswerTags* const tags_;
  std::string address_;
  event_base* base_ = nullptr;
  evhttp* http_ = nullptr;
  event* wake_ = nullptr;
  event* sweep_ = nullptr;
  std::thread loop_;
  std::thread checker_;
  WatchCounters counters_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  std::mt19937_64 rng_;  // the hold's jitter; loop thread, under mu_
  uint64_t next_id_ = 0;
  uint64_t sweeps_ = 0;  // loop thread
  absl::flat_hash_map<uint64_t, Waiter> waiters_;
  absl::flat_hash_map<std::string, absl::flat_hash_set<uint64_t>> by_channel_;
  absl::flat_hash_map<evhttp_connection*, uint64_t> by_conn_;
  absl::flat_hash_set<std::string> announced_;
  std::vector<std::pair<uint64_t, std::string>> outbox_;
  // Checker thread only: each watched channel's ChannelVersion when its
  // waiting hosts were last tagged.
  absl::flat_hash_map<std::string, std::string> versions_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<WatchServer>> WatchServer::Start(const WatchOptions& options, AnswerTags* tags) {
  if (options.hold < absl::Seconds(1) || options.hold > kMaxWatchHold) {
    return absl::InvalidArgumentError(absl::StrCat("--watch_hold=", absl::FormatDuration(options.hold),
                                                   " is out of range: want 1s to ",
                                                   absl::FormatDuration(kMaxWatchHold),
                                                   " (updaters re-poll a shorter hold only after a backoff "
                                                   "and drop a poll silent for longer)"));
  }
  if (options.max_connections == 0) return absl::InvalidArgumentError("--watch_max_connections must be positive");
  auto server = std::make_unique<WatchServerImpl>(options, tags);
  if (absl::Status s = server->Init(); !s.ok()) return s;
  return server;
}

}  // namespace drover::watch
