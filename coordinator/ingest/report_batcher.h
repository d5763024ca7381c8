// Group commit for status reports: reports queue up while the previous batch
// commits, then go to the store together in one transaction; each caller is
// answered only once its batch is durably committed.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "coordinator/ingest/ingest_metrics.h"
#include "coordinator/ingest/liveness.h"
#include "coordinator/rollout/model.h"
#include "coordinator/store/store.h"

namespace drover::ingest {

struct ReportBatcherOptions {
  // Upper bound per transaction, which also bounds the latency a batch adds.
  size_t max_batch = 1000;
  // Batches in flight at once, each on its own connection. One writer makes
  // the largest batches, the cheapest per report for PostgreSQL.
  int writers = 1;
  // Reports waiting beyond this are refused with Unavailable so that callers
  // back off instead of piling up memory.
  size_t max_queue = 200000;
  // The same bound in bytes (ApproximateBytes of the waiting reports): a
  // count alone lets large reports (32 outcomes with 2 KiB errors each) hold
  // gigabytes. Refused the same way. 0: no byte bound.
  size_t max_queue_bytes = 256 << 20;
};

// Memory a queued report holds, roughly: its strings and outcomes.
size_t ApproximateBytes(const rollout::AgentReport& report);

class ReportBatcher {
 public:
  // Called exactly once per report, from the batcher's replier thread (or
  // inline when the report is refused at once). `status` non-OK: nothing was stored.
  using Done = std::function<void(const absl::Status& status, const store::ReportResult& result)>;

  // `store` and `metrics` are not null and outlive the batcher.
  // `liveness` (may be null: every report is committed) answers heartbeats
  // from memory and learns from every committed report.
  ReportBatcher(store::ReportWriter* store, IngestMetrics* metrics, ReportBatcherOptions options,
                LivenessTracker* liveness = nullptr);
  ~ReportBatcher();

  void Submit(rollout::AgentReport report, Done done);

  // Refuses new reports, commits every queued one, then stops the writers.
  void Shutdown();

 private:
  struct Pending {
    rollout::AgentReport report;
    Done done;
    size_t bytes = 0;
    // The durable-field digest the heartbeat check computed, if it did.
    std::optional<LivenessTracker::Digest> digest;
  };

  // Reports are sharded over writers by host, so a replica's concurrent
  // batches never touch the same host (and never undo each other's
  // optimistic writes).
  struct Shard {
    std::condition_variable cv;
    std::deque<Pending> queue;
    bool idle = false;  // waiting on cv: only then is a wake-up needed
  };

  // A committed batch whose callers are still to be answered.
  struct Answered {
    std::vector<Pending> batch;
    absl::Status status;                      // non-OK: nothing of the batch was stored
    std::vector<store::ReportResult> results;  // one per report when status is OK
  };

  void WriterLoop(Shard* shard);
  Answered Commit(std::vector<Pending> batch);
  void ReplierLoop();

  store::ReportWriter* const store_;
  IngestMetrics* const metrics_;
  const ReportBatcherOptions options_;
  LivenessTracker* const liveness_;
  std::atomic<bool> stopping_flag_{false};

  std::mutex mu_;
  std::vector<std::unique_ptr<Shard>> shards_;
  size_t queued_ = 0;
  size_t queued_bytes_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> writers_;

  // Callers are answered from a thread of their own, so a writer starts its
  // next batch as soon as PostgreSQL has committed the last one.
  std::mutex reply_mu_;
  std::condition_variable reply_cv_;
  std::deque<Answered> answered_;
  bool replier_idle_ = false;
  bool writers_done_ = false;
  std::thread replier_;
};

}  // namespace drover::ingest
