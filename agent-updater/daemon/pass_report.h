// What one pass tells the daemon that ran it, and when the daemon runs the
// next one. The pass is a child process (drover-updater-pass once) that writes
// one line to a pipe; keeping that line and the schedule here makes both
// testable without processes.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/api_limits.h"
#include "common/backoff.h"

namespace drover::updater {

// The cap on retry waits before any pass told the poll interval: the
// default poll interval.
inline constexpr absl::Duration kDefaultRetryCap = kDefaultPollInterval;

struct PassReport {
  bool ok = false;  // the pass ran to its end (it may still have failed an update)
  bool coordinator_reachable = false;
  absl::Duration poll_interval = absl::ZeroDuration();
  // When the coordinator told the host to come back (Sync answers); zero:
  // it told nothing, the poll interval applies.
  absl::Duration next_sync = absl::ZeroDuration();
  // The configured backoff, which the daemon cannot read itself.
  absl::Duration backoff_initial = absl::Seconds(1);
  absl::Duration backoff_max = kDefaultRetryCap;
  // The coordinator's watch endpoint (config `watch`, host:port) and the
  // poll path naming this host and the answer tag it acted on; empty: no
  // pushes, polling only.
  std::string watch;
  std::string watch_path;
  std::string answer_tag;
  std::string summary;  // one line, for logs and systemd's STATUS=
};

// "ok=1 reachable=1 poll_interval_ms=60000 backoff_initial_ms=1000
// backoff_max_ms=300000 next_sync_ms=55000 watch=HOST:PORT
// watch_path=/v1/watch?... answer_tag=HEX summary=<text>\n" (one line);
// the summary is last so it may hold spaces (line breaks become spaces).
// The first five keys are required, in that order; after them any
// key=value without spaces may follow, and keys this daemon does not know
// are skipped (a newer pass beside an older daemon during an upgrade).
std::string FormatPassReport(const PassReport& report);
absl::StatusOr<PassReport> ParsePassReport(absl::string_view line);

// The wait before the next pass. A pass that reached the coordinator waits
// the interval the coordinator chose (next_sync, already jittered by it),
// clamped to [kMinPollInterval, kMaxPollInterval]; or, when it chose none,
// its poll interval, spread by +-10% (`unit` in [0, 1)) so that a fleet
// started together drifts apart; either resets `backoff`; a pass that failed,
// did not reach the coordinator, or told nothing (it crashed or was killed)
// waits the next capped exponential backoff step.
absl::Duration NextPassAfter(const std::optional<PassReport>& report, Backoff& backoff, double unit);

// The longest wait between retries while the coordinator cannot serve: the
// configured backoff_max when set, else the poll interval (zero: unknown,
// then the default 60 s). So an outage never leaves a host waiting longer
// than it would between two passes: with a 5 s poll interval, at most 5 s.
absl::Duration RetryCap(absl::Duration configured_max, absl::Duration poll_interval);

// Pushed passes (the watch announced a change) start after a jitter of up
// to kPushJitter (`unit` in [0, 1)), so that a fleet woken by one change
// does not call in the same millisecond, and are paced by a token bucket:
// kPushBurst at once (a first report, then a target change, then a rollout
// step may each change the answer within seconds), then one per
// kPushRefill, so no coordinator (or attacker on the path) can make a host
// run passes back to back.
inline constexpr absl::Duration kPushJitter = absl::Milliseconds(500);
inline constexpr int kPushBurst = 3;
inline constexpr absl::Duration kPushRefill = absl::Seconds(5);

class PushPacer {
 public:
  // When a pass for a change announced at `now` starts.
  absl::Time At(absl::Time now, double unit) const;
  // A pushed pass started at `t` (not before the last one).
  void Started(absl::Time t);

 private:
  double TokensAt(absl::Time t) const;
  double tokens_ = kPushBurst;
  absl::Time counted_ = absl::InfinitePast();  // when tokens_ was right
};

}  // namespace drover::updater
