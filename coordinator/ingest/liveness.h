// Heartbeats in memory (rollout/heartbeat.h): what this replica remembers of
// the last report it handled for each host, so that a report changing
// nothing durable is answered at once, and the liveness it carries is
// written to PostgreSQL in bulk every flush interval (asynchronous commit).
//
// Guarantees (tested in tests/integration/liveness_test.cc and the e2e
// tests with real signals):
// - A report that changes state or carries outcomes is never a heartbeat:
//   it goes through ReportBatcher and is answered once committed.
// - A heartbeat's last_seen reaches PostgreSQL within one flush interval
//   plus the flush itself; a SIGKILL loses at most that (liveness lags,
//   nothing else). SIGTERM flushes before the process exits.
// - Several replicas merge: a flush only moves last_seen (and the
//   sequence) up.
// - A host this replica no longer finds in PostgreSQL (forgotten, channel
//   deleted) is dropped at the next flush: its next report is committed,
//   and refused or stored again as a first report would be.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "coordinator/ingest/ingest_metrics.h"
#include "coordinator/rollout/model.h"
#include "coordinator/store/store.h"

namespace drover::ingest {

struct LivenessOptions {
  // How often heartbeats go to PostgreSQL: the most liveness may lag after
  // a crash. At most the 10 s seen bucket (rollout::kSeenBucket), so stale
  // counts stay within one bucket of exact.
  absl::Duration flush_interval = absl::Seconds(5);
  // Hosts remembered at most (about 100 bytes each). Beyond it, reports of
  // hosts not yet remembered are committed as before.
  size_t max_hosts = 5'000'000;
  // A host not heard from for this long is forgotten here (its next report
  // is committed).
  absl::Duration forget_after = absl::Hours(1);
  // Heartbeats per statement of a flush. Small: a statement holds its rows'
  // locks until it ends, and a batch of state changes touching one of them
  // waits that long (10,000 per statement cut a 1,000,000-host rollout
  // storm to a tenth of its rate).
  size_t flush_batch = 1000;
};

class LivenessTracker {
 public:
  // `store`, `clock` and `metrics` are not null and outlive the tracker.
  // Start() begins the flusher thread.
  LivenessTracker(store::LivenessWriter* store, const Clock* clock, IngestMetrics* metrics, LivenessOptions options);
  ~LivenessTracker();

  void Start();
  // Stops the flusher, then flushes what is pending for at most `budget`
  // (a flush of a large fleet on a loaded database can take long: past the
  // budget the rest is dropped, as a SIGKILL would, so the process exits).
  void Shutdown(absl::Duration budget = absl::Seconds(15));

  // The digest of a report's durable fields (rollout::DurableFields), by
  // which a heartbeat is told from a change.
  using Digest = std::array<uint8_t, 16>;

  // A heartbeat of a host this replica remembers (rollout::IsHeartbeat):
  // remembered, to be flushed, and the answer to give. nullopt: commit it.
  // When it had to compute the report's digest to tell, it leaves it in
  // `*digest` (if given) for Handled, so the digest is computed once per
  // report.
  std::optional<store::ReportResult> TryHeartbeat(const rollout::AgentReport& report,
                                                  std::optional<Digest>* digest = nullptr);

  // After the batcher committed `report` (or failed to): remember it when it
  // was applied, forget the host otherwise (its next report is committed).
  // `digest`: what TryHeartbeat left, if anything.
  void Handled(const rollout::AgentReport& report, const absl::Status& status, const store::ReportResult& result,
               const std::optional<Digest>& digest = std::nullopt);

  // One flush now (the flusher calls it every interval), giving up on what
  // is left at `deadline` or when the tracker stops (those stay pending).
  // Returns the heartbeats written.
  size_t Flush(absl::Time deadline = absl::InfiniteFuture());

  size_t hosts() const;
  size_t pending() const;

 private:
  struct Entry {
    Digest digest{};
    int64_t sequence = 0;
    absl::Time last_seen;
    bool dirty = false;  // last_seen newer than what PostgreSQL holds
  };
  struct Shard {
    mutable std::mutex mu;
    absl::flat_hash_map<std::string, Entry> hosts;
  };
  static constexpr size_t kShards = 64;

  static Digest DigestOf(const rollout::AgentReport& report);
  Shard& ShardOf(const std::string& host_id);
  void FlusherLoop();
  // Forgets a host (shard.mu held).
  void Erase(Shard& shard, absl::flat_hash_map<std::string, Entry>::iterator it);

  store::LivenessWriter* const store_;
  const Clock* const clock_;
  IngestMetrics* const metrics_;
  const LivenessOptions options_;
  std::array<Shard, kShards> shards_;
  std::atomic<size_t> size_{0};
  std::atomic<size_t> pending_{0};  // entries with dirty set

  std::mutex flush_mu_;  // one flush at a time
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::atomic<bool> stop_flag_{false};  // stopping_, read by a flush between statements
  std::thread flusher_;
};

}  // namespace drover::ingest
