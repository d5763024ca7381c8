// Applies a batch of reports to the stored agent states: which reports count,
// what each agent becomes, and how the channel counters move. Pure logic, so
// the ingest path's idempotency rules are unit-tested without a database.
#pragma once

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "coordinator/rollout/model.h"

namespace drover::rollout {

enum class ReportDisposition { kAccepted, kDuplicate, kOutOfOrder };

struct FleetCountKey {
  std::string channel;
  std::string version;
  Health health;
  friend bool operator<(const FleetCountKey& a, const FleetCountKey& b) {
    return std::tie(a.channel, a.version, a.health) < std::tie(b.channel, b.version, b.health);
  }
};

struct OutcomeCountKey {
  std::string channel;
  int64_t target_epoch;
  UpdateResult result;
  friend bool operator<(const OutcomeCountKey& a, const OutcomeCountKey& b) {
    return std::tie(a.channel, a.target_epoch, a.result) <
           std::tie(b.channel, b.target_epoch, b.result);
  }
};

// Agents are also counted per 10-second bucket of their last report, so
// "stale" is a sum over old buckets rather than a scan of agents.
inline constexpr absl::Duration kSeenBucket = absl::Seconds(10);
inline absl::Time SeenBucket(absl::Time t) { return absl::UnixEpoch() + absl::Floor(t - absl::UnixEpoch(), kSeenBucket); }

struct SeenCountKey {
  std::string channel;
  absl::Time bucket;
  friend bool operator<(const SeenCountKey& a, const SeenCountKey& b) {
    return std::tie(a.channel, a.bucket) < std::tie(b.channel, b.bucket);
  }
};

struct NewUpdateEvent {
  std::string host_id;
  std::string channel;
  int64_t report_sequence;
  UpdateOutcome outcome;
};

struct BatchPlan {
  // One per input report, same order.
  std::vector<ReportDisposition> dispositions;
  // Highest stored sequence of the report's host after the batch, per report.
  std::vector<int64_t> stored_sequences;
  // Final state of every host whose state changed, split by whether it must be
  // inserted or updated. first_seen/last_seen are left to the store.
  std::vector<AgentState> inserts;
  std::vector<AgentState> updates;
  std::vector<NewUpdateEvent> events;
  // Non-zero deltas only, sorted by key (the lock order).
  std::map<FleetCountKey, int64_t> fleet_deltas;
  std::map<OutcomeCountKey, int64_t> outcome_deltas;
  std::map<SeenCountKey, int64_t> seen_deltas;
  // Sequence each updated host had when read: the write succeeds only if it
  // still has it (optimistic concurrency instead of row locks). Same order
  // as `updates`.
  std::vector<int64_t> expected_sequences;
};

// `stored` holds the current state of the batch's hosts that exist (with
// last_seen); `now` becomes the last_seen of every accepted report.
// `target_epochs` maps each report's channel to its current target epoch; every
// report's channel must be present. Reports are applied in order, so two
// reports of one host in a batch behave as if sent one after the other.
BatchPlan PlanBatch(const std::vector<const AgentReport*>& reports,
                    const absl::flat_hash_map<std::string, AgentState>& stored,
                    const absl::flat_hash_map<std::string, int64_t>& target_epochs, absl::Time now);

}  // namespace drover::rollout
