// Storage interfaces of the coordinator. Implementations turn their backend's
// errors into absl::Status: broken connection -> Unavailable, unknown channel
// -> NotFound, duplicate -> AlreadyExists.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/rollout/model.h"
#include "coordinator/rollout/report_apply.h"
#include "coordinator/store/audit_store.h"

namespace drover::store {

using rollout::ChannelChange;

// Edits `channel` in place and appends what it changed; a non-OK status aborts
// the edit and nothing is written. Runs with the channel row locked, so checks
// made inside it hold when the write commits.
using ChannelMutation =
    std::function<absl::Status(rollout::Channel& channel, std::vector<ChannelChange>& changes)>;

// The mutations take the AuditRecord of the request (actor, peer, method;
// null: none, for tests and tools) and write it, with the old and new value
// filled in, in the transaction of the change; its actor also goes to
// channel_changes. A request that changes nothing writes neither.
class ChannelStore {
 public:
  virtual ~ChannelStore() = default;
  // AlreadyExists when the id is taken.
  virtual absl::StatusOr<rollout::Channel> CreateChannel(const rollout::Channel& channel,
                                                         const AuditRecord* audit) = 0;
  virtual absl::StatusOr<std::vector<rollout::Channel>> ListChannels() = 0;
  virtual absl::StatusOr<rollout::Channel> GetChannel(const std::string& id) = 0;
  // Returns the number of agents removed; FailedPrecondition when the channel
  // still has agents and !force.
  virtual absl::StatusOr<int64_t> DeleteChannel(const std::string& id, bool force, const AuditRecord* audit) = 0;
  // Starts a new target epoch (outcome counters restart from zero) when the
  // mutation says so: a change with starts_target_epoch, which
  // rollout::SetTarget sets (rollout::StartsTargetEpoch). The channel is
  // written as the mutation left it, last_target_version included (the
  // domain's rule; the trigger of migration 000006 computes the same for
  // replicas of the previous release, see rollout::SetTarget).
  virtual absl::StatusOr<rollout::Channel> UpdateChannel(const std::string& id, const ChannelMutation& mutate,
                                                         const AuditRecord* audit) = 0;
  virtual absl::StatusOr<std::vector<ChannelChange>> ListChannelChanges(
      const std::string& id, int64_t before_id, int limit) = 0;

  // Without an audit record (tests, tools).
  absl::StatusOr<rollout::Channel> CreateChannel(const rollout::Channel& channel) {
    return CreateChannel(channel, nullptr);
  }
  absl::StatusOr<int64_t> DeleteChannel(const std::string& id, bool force) { return DeleteChannel(id, force, nullptr); }
  absl::StatusOr<rollout::Channel> UpdateChannel(const std::string& id, const ChannelMutation& mutate) {
    return UpdateChannel(id, mutate, nullptr);
  }
};

// Result of one report in a batch.
struct ReportResult {
  // NotFound for an unknown channel; Unavailable or Aborted when this report
  // was not stored although others of its batch were.
  absl::Status status;
  rollout::ReportDisposition disposition = rollout::ReportDisposition::kAccepted;
  int64_t stored_sequence = 0;
};

struct AgentFilter {
  std::string channel;  // empty: any
  std::string version;  // empty: any
  std::optional<rollout::Health> health;
  bool stale_only = false;
  bool out_of_policy_only = false;
  std::string group;  // empty: any
  // Host ids reported by two updater instances (rollout::kInstanceConflictPollIntervals).
  bool instance_conflict_only = false;
  std::optional<rollout::UpdateResult> last_result;
  // Instead of agents: hosts whose latest report named a channel that does
  // not exist, seen within rollout::kOrphanVisibleFor. `channel` then filters
  // by the name they report.
  bool orphaned_only = false;
};

struct AgentView {
  rollout::AgentState state;
  bool stale = false;
  bool out_of_policy = false;
  std::string out_of_policy_reason;
  bool instance_conflict = false;
  // Listed by orphaned_only: state.channel does not exist.
  bool orphaned = false;
};

struct StoredUpdateEvent {
  int64_t id = 0;
  std::string host_id;
  std::string channel;
  rollout::UpdateOutcome outcome;
  absl::Time recorded_at;
};

// What the rollout status of a channel is computed from, read in one snapshot.
struct RolloutInputs {
  rollout::Channel channel;
  std::vector<rollout::VersionHealthCount> counts;
  std::vector<rollout::OutcomeCount> outcomes_since_target;
  int64_t stale_agents = 0;
  // Agents per reported schedule state; states with none left out.
  std::vector<rollout::ScheduleStateCount> schedule_states;
  int64_t instance_conflicts = 0;
};

// The write side of agent state: all the ingest path needs of storage.
class ReportWriter {
 public:
  virtual ~ReportWriter() = default;
  // Applies reports; returns one result per report once they are committed.
  // Reports of one host apply in their order. A non-OK return means nothing
  // was committed.
  virtual absl::StatusOr<std::vector<ReportResult>> ApplyReports(
      const std::vector<const rollout::AgentReport*>& reports) = 0;
};

// One host's liveness from heartbeats (rollout/heartbeat.h): when it was
// last heard from, and the sequence of that heartbeat.
struct HostBeat {
  std::string host_id;
  absl::Time last_seen;
  int64_t sequence = 0;
};

// What a liveness write did not write.
struct LivenessNotWritten {
  // Indexes into the beats: rows another writer changed meanwhile (write
  // them again), and hosts without a row (forgotten, channel deleted).
  std::vector<size_t> retry;
  std::vector<size_t> missing;
};

// The bulk write of heartbeats. Asynchronous commit: a crash may lose the
// last writes, which only makes liveness lag.
class LivenessWriter {
 public:
  virtual ~LivenessWriter() = default;
  // Moves each host's last_seen (and sequence) up to the beat's, never down.
  virtual absl::StatusOr<LivenessNotWritten> WriteLiveness(const std::vector<HostBeat>& beats) = 0;
};

// The read side of agent state, for operators and metrics.
struct ForgottenAgent {
  std::string channel;    // empty when only an orphaned-host row went
  int64_t sequence = 0;   // the sequence that was stored
};

class AgentStore {
 public:
  virtual ~AgentStore() = default;
  virtual absl::StatusOr<AgentView> GetAgent(const std::string& host_id) = 0;
  // Agents with host_id > after_host_id, by host_id, at most `limit`.
  virtual absl::StatusOr<std::vector<AgentView>> ListAgents(const AgentFilter& filter,
                                                            const std::string& after_host_id,
                                                            int limit) = 0;
  // Newest first, ids below before_id (0: from the newest).
  virtual absl::StatusOr<std::vector<StoredUpdateEvent>> ListUpdateEvents(
      const std::string& host_id, int64_t before_id, int limit) = 0;
  virtual absl::StatusOr<RolloutInputs> GetRolloutInputs(const std::string& channel_id) = 0;
  // Per channel: (version, health) counts and stale count; for metrics.
  virtual absl::StatusOr<std::vector<RolloutInputs>> GetAllRolloutInputs() = 0;
  // Hosts whose latest report named a channel that does not exist, seen
  // within rollout::kOrphanVisibleFor.
  virtual absl::StatusOr<int64_t> CountOrphanedHosts() = 0;
  // Removes what is stored about a host (its agent row, its orphaned-host
  // row; not its update history) so that its next report starts afresh.
  // NotFound when nothing was stored. Recorded as a change of its channel
  // and, when `audit` is set, in the audit trail in the same transaction.
  virtual absl::StatusOr<ForgottenAgent> ForgetAgent(const std::string& host_id, const AuditRecord* audit) {
    return absl::UnimplementedError("this store cannot forget agents");
  }
};

}  // namespace drover::store
