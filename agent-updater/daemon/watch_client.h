// The daemon's side of the coordinator's watch endpoint (README "Pushed
// changes"): one HTTP/1.1 long poll, kept on a keep-alive connection, that
// tells the daemon "this host's answer changed, run a pass now". Polling
// stays: the watch only brings the next pass forward, so a watch that is
// down, refused or suppressed costs latency, never correctness.
//
// A plain non-blocking socket driven by the daemon's own poll loop, with no
// HTTP library: the daemon stays a few MiB (bench/updater_idle.sh), and the
// only peer is drover-coordinator's answers, of which this parses exactly
// what they use (status line, Content-Length, Connection, Retry-After; no
// chunked bodies). Anything else is refused as a protocol error and retried
// with backoff. Fuzzed (tests/fuzz/watch_response_fuzzer.cc).
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/api_limits.h"
#include "common/backoff.h"

namespace drover::updater {

// Limits on what a watch answer may be; larger is a protocol error.
inline constexpr size_t kMaxWatchHeaderBytes = 8 * 1024;
inline constexpr size_t kMaxWatchBodyBytes = 4 * 1024;
// A held poll is answered within the coordinator's --watch_hold (55 s +-10 %
// by default, at most kMaxWatchHold); a connection silent for longer is dead
// (TCP keepalive finds a vanished peer sooner, in about 90 s).
inline constexpr absl::Duration kWatchReadTimeout = absl::Minutes(6);  // > kMaxWatchHold * 1.1
inline constexpr absl::Duration kWatchConnectTimeout = absl::Seconds(10);
// Reconnects: capped exponential backoff with full jitter, so a fleet whose
// coordinator restarted does not reconnect in lock-step.
inline constexpr absl::Duration kWatchBackoffInitial = absl::Seconds(1);
inline constexpr absl::Duration kWatchBackoffMax = absl::Minutes(1);
// 400 and 404 (a bad parameter, an unknown channel) wait this long before
// the next try: they do not go away by retrying soon.
inline constexpr absl::Duration kWatchRefusedRetry = absl::Minutes(5);
// A poll answered sooner than this with no change (a proxy, a misconfigured
// hold) is repeated only after the next backoff step, never in a tight loop.
inline constexpr absl::Duration kMinHeldPoll = absl::Seconds(1);
// A connection idle between polls for longer than this (a long pass) is
// replaced before the next poll: the coordinator drops idle ones.
inline constexpr absl::Duration kWatchIdleReconnect = absl::Seconds(50);

struct WatchResponse {
  int status = 0;
  std::string body;
  bool close = false;                              // Connection: close
  absl::Duration retry_after = absl::ZeroDuration();  // Retry-After seconds, if any
  size_t consumed = 0;                             // bytes of the buffer this response took
};

struct WatchParse {
  enum State { kIncomplete, kDone, kBad } state = kIncomplete;
  WatchResponse response;  // when kDone
  std::string error;       // when kBad
};

// Parses one HTTP/1.1 response from the front of `buffer`.
WatchParse ParseWatchResponse(absl::string_view buffer);

// "GET <path> HTTP/1.1" with Host and keep-alive.
std::string WatchRequest(absl::string_view host_port, absl::string_view path);

// The tag in a 200 answer's body ("tag=<hex>\n"); empty when absent.
std::string TagOfWatchBody(absl::string_view body);

// Percent-encodes everything but RFC 3986's unreserved characters.
std::string UrlEncode(absl::string_view s);

// The path of the watch poll for one host whose current answer has `tag`.
std::string WatchPath(absl::string_view channel, absl::string_view host_id, absl::string_view group,
                      absl::string_view tag);
// `path` (a WatchPath) naming `tag` instead.
std::string WithTag(absl::string_view path, absl::string_view tag);

// The tag the next poll names after a pass that came back with `pass_tag`:
// its own, unless the pass ran because the watch announced `announced` and
// came back with another (its answer was refused or expired, or came from a
// replica behind the watch's): then the announced one, so that the watch
// holds until the answer moves on, instead of announcing the same change
// again at once (a pass every few seconds for as long as that lasts).
std::string TagAfterPass(absl::string_view pass_tag, bool pushed, absl::string_view announced);

// One watch connection, driven by a poll loop:
//   while (...) { poll({fd(), events()}, until Deadline()); if (Step(now, revents)) run a pass; }
// Single-threaded; never blocks except in resolving a host name.
// One address to connect to.
struct WatchAddress {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = 0;
};
// Resolves host and port (getaddrinfo, in its order); on failure empty, with
// `error` saying why.
using WatchResolver =
    std::function<std::vector<WatchAddress>(const std::string& host, const std::string& port, std::string* error)>;
std::vector<WatchAddress> ResolveWatchAddress(const std::string& host, const std::string& port, std::string* error);

class WatchClient {
 public:
  // `uniform` returns a number in [0, 1) (jitter); `log` receives one line
  // per change of state worth telling (connected, lost, refused).
  WatchClient(std::function<double()> uniform, std::function<void(const std::string&)> log,
              WatchResolver resolve = ResolveWatchAddress);
  ~WatchClient();
  WatchClient(const WatchClient&) = delete;
  WatchClient& operator=(const WatchClient&) = delete;

  // What to watch: the endpoint (host:port), the poll path, and the tag the
  // path names (a 200 naming that same tag is no change). `acted_on`, when
  // another tag, is the answer the last pass acted on: a 200 naming it is
  // no change either, and later polls name it. An empty `host_port` stops
  // watching. A new path is sent with the next poll; an answer to the
  // previous one is still read.
  void Watch(absl::string_view host_port, absl::string_view path, absl::string_view tag, absl::Time now,
             absl::string_view acted_on = "");

  // The socket to poll (-1: none now) and for what.
  int fd() const { return fd_; }
  short events() const;
  // Step must be called by then even without events (InfiniteFuture: never).
  absl::Time Deadline() const { return deadline_; }

  // Advances on readiness or time; true when the coordinator announced that
  // this host's answer changed. After that no poll is outstanding until the
  // next Watch call (the pass that follows brings the new tag).
  bool Step(absl::Time now, short revents);

  bool connected() const { return state_ == State::kWaiting || state_ == State::kIdle; }
  int changes() const { return changes_; }
  // The tag of the last change announced, and the one it replaced.
  const std::string& announced_tag() const { return announced_tag_; }
  const std::string& tag() const { return tag_; }

 private:
  // kPaused: connected, the next poll waits for the deadline (the last one
  // came back too soon).
  enum class State { kOff, kBackoff, kConnecting, kWaiting, kIdle, kPaused };

  void Connect(absl::Time now);
  void ConnectNext(absl::Time now, const std::string& why);
  void SendPoll(absl::Time now);
  void PollAgain(absl::Time now, bool close);
  // `answered`: the coordinator answered (503, 404, garbage), as opposed to
  // the connection failing.
  void Fail(absl::Time now, const std::string& why, absl::Duration at_least = absl::ZeroDuration(),
            bool answered = false);
  void CloseSocket();
  bool ReadAnswers(absl::Time now);
  bool HandleAnswer(absl::Time now, const WatchResponse& r);

  std::function<double()> uniform_;
  std::function<void(const std::string&)> log_;
  Backoff backoff_;
  State state_ = State::kOff;
  int fd_ = -1;
  absl::Time deadline_ = absl::InfiniteFuture();
  std::string host_port_, path_, tag_, acted_on_;
  std::string in_;  // bytes read and not yet parsed
  WatchResolver resolve_;
  std::vector<WatchAddress> addrs_;
  size_t next_addr_ = 0;
  std::string last_connect_error_;
  absl::Time poll_sent_ = absl::InfinitePast();
  absl::Time idle_since_ = absl::InfinitePast();
  bool refused_by_answer_ = false;
  // What was last logged, so a flapping endpoint logs once per change.
  enum class Told { kNothing, kConnected, kLost } told_ = Told::kNothing;
  int changes_ = 0;
  std::string announced_tag_;
};

}  // namespace drover::updater
