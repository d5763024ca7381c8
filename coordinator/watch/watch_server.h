// The watch endpoint: an HTTP/1.1 long poll that tells an updater "your
// answer changed, run a pass now", so target changes, critical toggles and
// rollout steps reach connected updaters in about a second instead of a
// poll interval.
//
//   GET /v1/watch?channel=<id>&host_id=<id>&group=<g>&tag=<hex>
//
// 200 "tag=<hex>\n" as soon as the host's current answer tag (answer_tag.h)
// differs from `tag` (at once when it already does, or `tag` is empty);
// 204 after the hold time (so proxies and NAT keep the connection, and the
// updater re-polls on the same keep-alive connection); 400 naming the bad
// parameter; 404 for an unknown channel; 503 with Retry-After when over
// max_connections or when the answer cannot be read.
//
// No authentication: the answer carries nothing but a digest and only
// makes the updater run a pass, which verifies the signed answer it gets
// over gRPC. An on-path attacker can trigger passes (the daemon rate-limits
// pushed passes) or suppress pushes (the updater still polls).
//
// One libevent thread serves every connection (a few KiB each); a checker
// thread recomputes the tags of a channel's waiting hosts when the channel
// is announced changed (ChannelChanged, from PostgreSQL LISTEN/NOTIFY) and
// of every channel every `recheck` (the fallback for missed notifications
// and changes the caches see first), and only hosts whose own tag changed
// are answered.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/api_limits.h"
#include "coordinator/watch/answer_tags.h"

namespace drover::watch {

struct WatchOptions {
  std::string listen;  // host:port; port 0 picks one
  absl::Duration hold = absl::Seconds(55);
  double hold_jitter = 0.1;  // the hold is hold * (1 +- hold_jitter)
  size_t max_connections = 100000;
  absl::Duration recheck = absl::Seconds(1);
  absl::Duration retry_after = absl::Seconds(30);  // told with 503
};

struct WatchCounters {
  std::atomic<uint64_t> changed{0};  // 200
  std::atomic<uint64_t> held{0};     // 204
  std::atomic<uint64_t> refused{0};  // 4xx/5xx
  std::atomic<uint64_t> closed{0};   // the updater hung up while waiting
};

class WatchServer {
 public:
  static absl::StatusOr<std::unique_ptr<WatchServer>> Start(const WatchOptions& options, AnswerTags* tags);
  virtual ~WatchServer() = default;

  // host:port actually bound.
  virtual std::string address() const = 0;
  // Thread-safe: `channel` changed (empty: any channel may have).
  virtual void ChannelChanged(const std::string& channel) = 0;
  // Requests parked now.
  virtual size_t waiting() const = 0;
  virtual const WatchCounters& counters() const = 0;
  // Closes every connection and stops the threads. Idempotent.
  virtual void Shutdown() = 0;
};

}  // namespace drover::watch
