// What the report path records about its work, as an interface: the batcher
// depends on these events only, not on how (or whether) they are exported.
#pragma once

#include <cstddef>
#include <string>

#include "absl/time/time.h"
#include "coordinator/rollout/model.h"

namespace drover::ingest {

// How a report ended, for drover_reports_total{result}. The order is the
// exporter's index of its counters.
enum class ReportOutcome {
  kAccepted,
  kDuplicate,
  kOutOfOrder,
  kInvalid,
  kUnknownChannel,
  kUnavailable,
  kTooLarge,
  kSequenceTooFarAhead,
  kRateLimited,
  kQueueFull,
  // Answered from memory (ingest/liveness.h), written in bulk later.
  kHeartbeat,
};

// The events of ReportBatcher. Called from its writer threads and from
// Submit's callers, concurrently: implementations are thread-safe.
class IngestMetrics {
 public:
  virtual ~IngestMetrics() = default;
  // One report answered or refused, by how it ended.
  virtual void CountReport(ReportOutcome outcome) = 0;
  // One outcome of an accepted report.
  virtual void CountOutcome(const std::string& channel, rollout::UpdateResult result) = 0;
  // One batch the store committed.
  virtual void ObserveBatch(size_t size, absl::Duration commit_duration) = 0;
  // One store call that failed as a whole.
  virtual void CountDatabaseError(const std::string& operation) = 0;
  // Reports waiting for a writer.
  virtual void SetQueueDepth(size_t depth) = 0;
  // One flush of heartbeats (LivenessTracker): rows written, how long it
  // took, whether every statement succeeded.
  virtual void ObserveLivenessFlush(size_t /*written*/, absl::Duration /*took*/, bool /*ok*/) {}
  // Hosts remembered, and those whose liveness awaits the next flush.
  virtual void SetLiveness(size_t /*hosts*/, size_t /*pending*/) {}
};

// For a batcher whose events nobody exports (tools, tests that do not look).
class NoIngestMetrics final : public IngestMetrics {
 public:
  void CountReport(ReportOutcome) override {}
  void CountOutcome(const std::string&, rollout::UpdateResult) override {}
  void ObserveBatch(size_t, absl::Duration) override {}
  void CountDatabaseError(const std::string&) override {}
  void SetQueueDepth(size_t) override {}
};

}  // namespace drover::ingest
