// The coordinator's log of what callers did: one line per RPC that did not
// succeed and one per operator change to a channel. Lines name the method,
// the caller's address, the status code and message, never request metadata.
// Failures are limited per (method, code), so a fleet of misconfigured
// updaters cannot flood the log; drover_rpc_requests_total counts them all.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "coordinator/rollout/model.h"

namespace drover::api {

class RpcLog {
 public:
  struct Options {
    // Lines per (method, code) per window; the rest are counted and the count
    // is logged on its own line once the window has passed (see Flush).
    int lines_per_window = 20;
    absl::Duration window = absl::Minutes(1);
  };
  using Sink = std::function<void(absl::string_view level, absl::string_view line)>;

  // The default sink is stderr through common/log.h.
  RpcLog(const Clock* clock, Options options, Sink sink = nullptr);

  // `method` like "drover.v1.OperatorService/SetCritical"; `peer` as gRPC
  // names it ("ipv4:127.0.0.1:50522"). Caller mistakes are WARN, the
  // coordinator's own failures (INTERNAL, UNAVAILABLE, ...) ERROR.
  void Failed(absl::string_view method, const absl::Status& status, absl::string_view peer);

  // Logs the count of failures suppressed in windows that have passed (all
  // windows if `all`, at shutdown), so a flood that stops leaves its trace.
  // Failed() calls it; the server also calls it periodically.
  void Flush(bool all = false);

  // One INFO line per change, never limited.
  void Changed(absl::string_view peer, const std::vector<rollout::ChannelChange>& changes);

 private:
  struct Window {
    absl::Time start;
    int lines = 0;
    int64_t suppressed = 0;
    absl::Time first_suppressed;
  };
  struct Pending {
    std::string level;
    std::string line;
  };
  std::vector<Pending> TakeExpiredLocked(absl::Time now, bool all) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock* const clock_;
  const Options options_;
  const Sink sink_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::pair<std::string, int>, Window> windows_ ABSL_GUARDED_BY(mu_);
};

}  // namespace drover::api
