// PostgreSQL implementation of the coordinator's stores. One class, its
// methods in a file per entity: pg_channels.cc, pg_agents.cc (the agents'
// read side), pg_ingest.cc (reports), pg_counters.cc (counter reads and
// compaction), pg_rollouts.cc (staged rollouts); the statements in sql/
// (sql_files.h).
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "coordinator/rollout/retention.h"
#include "coordinator/store/identity_store.h"
#include "coordinator/store/metadata_store.h"
#include "coordinator/store/pg_errors.h"
#include "coordinator/store/pg_pool.h"
#include "coordinator/store/rollout_store.h"
#include "coordinator/store/store.h"

namespace drover::store {

struct PgStoreOptions {
  std::string url;
  // A read replica (a streaming standby) for reads that may lag the
  // primary by its replay delay: agents (GetAgent, ListAgents), update
  // history and the audit trail. Not rollout status: it names the target
  // and epoch an operator just set, and `target set` then `status` must
  // agree. Empty: the primary. When the replica cannot be reached, those
  // reads go to the primary instead (read_fallbacks counts them).
  std::string read_url;
  // Connections for operator and updater reads.
  int pool_size = 4;
  // Connections for ingest batches (one per concurrent batch writer).
  int ingest_pool_size = 1;
  // Per statement, so a stuck query cannot hold an RPC forever. A connection
  // on which a statement waits while the server sends nothing for this plus
  // kWatchdogMargin is closed (QueryWatchdog): the server itself may be frozen.
  absl::Duration statement_timeout = absl::Seconds(15);
  // The clock report sequences are bounded by (rollout::MaxAcceptedSequence);
  // null: the real clock. Not owned.
  const Clock* clock = nullptr;
};

// The tables partitioned by time (migrations/000011_time_partitions).
enum class PartitionedTable { kUpdateEvents, kAuditEvents };

// What one MaintainPartitions call did.
struct PartitionMaintenance {
  int created = 0;
  std::vector<std::string> dropped;  // partition names
  int64_t rows_moved = 0;            // from the default partition into new ones
  int64_t rows_expired = 0;          // deleted from the default partition
};

class PgStore final : public ChannelStore, public AgentStore, public ReportWriter, public LivenessWriter, public AuditStore,
                      public OperatorStore, public IdentityStore,
                      public MetadataStore, public RolloutStore {
 public:
  static constexpr absl::Duration kWatchdogMargin = absl::Seconds(5);
  // Each counter table has up to this many writer rows per key, one per
  // shard; a batch adds to the shard of its connection (1 + backend pid
  // modulo this), so concurrent batches do not queue on one row.
  // CompactCounters folds them into shard 0, which only it writes.
  // A storage detail, not a product rule: the SQL takes it as a parameter.
  static constexpr int kCounterShards = 32;

  explicit PgStore(PgStoreOptions options);

  using ChannelStore::CreateChannel;
  using ChannelStore::DeleteChannel;
  using ChannelStore::UpdateChannel;
  absl::StatusOr<rollout::Channel> CreateChannel(const rollout::Channel& channel, const AuditRecord* audit) override;
  absl::StatusOr<std::vector<rollout::Channel>> ListChannels() override;
  absl::StatusOr<rollout::Channel> GetChannel(const std::string& id) override;
  absl::StatusOr<int64_t> DeleteChannel(const std::string& id, bool force, const AuditRecord* audit) override;
  absl::StatusOr<rollout::Channel> UpdateChannel(const std::string& id, const ChannelMutation& mutate,
                                                 const AuditRecord* audit) override;
  absl::StatusOr<std::vector<ChannelChange>> ListChannelChanges(const std::string& id, int64_t before_id,
                                                                int limit) override;

  absl::StatusOr<std::vector<ReportResult>> ApplyReports(
      const std::vector<const rollout::AgentReport*>& reports) override;
  absl::StatusOr<AgentView> GetAgent(const std::string& host_id) override;
  absl::StatusOr<std::vector<AgentView>> ListAgents(const AgentFilter& filter, const std::string& after_host_id,
                                                    int limit) override;
  absl::StatusOr<std::vector<StoredUpdateEvent>> ListUpdateEvents(const std::string& host_id,
                                                                   int64_t before_id, int limit) override;
  absl::StatusOr<RolloutInputs> GetRolloutInputs(const std::string& channel_id) override;
  absl::StatusOr<std::vector<RolloutInputs>> GetAllRolloutInputs() override;
  absl::StatusOr<int64_t> CountOrphanedHosts() override;
  absl::StatusOr<ForgottenAgent> ForgetAgent(const std::string& host_id, const AuditRecord* audit) override;

  // pg_audit.cc
  absl::Status RecordAudit(const AuditRecord& record) override;
  absl::StatusOr<std::vector<AuditRecord>> ListAuditEvents(const AuditFilter& filter) override;
  absl::StatusOr<OperatorRecord> CreateOperator(const OperatorRecord& op, const std::string& token_sha256,
                                                const AuditRecord* audit) override;
  absl::StatusOr<OperatorRecord> FindOperatorByTokenHash(const std::string& token_sha256) override;
  absl::StatusOr<std::vector<OperatorRecord>> ListOperators(bool include_revoked) override;
  absl::StatusOr<OperatorRecord> RevokeOperator(const std::string& name, const AuditRecord* audit) override;

  // Host identities (pg_identities.cc).
  absl::Status CreateJoinToken(const std::string& token_sha256, const std::string& channel, absl::Time now,
                               absl::Time expires_at,
                              const AuditRecord* audit) override;
  absl::StatusOr<std::string> PeekJoinToken(const std::string& token_sha256, absl::Time now) override;
  absl::Status EnrollHost(const std::string& token_sha256, const HostCertificateRecord& cert,
                          absl::Time now,
                          const AuditRecord* audit) override;
  absl::Status RenewHostCertificate(const HostCertificateRecord& cert, const AuditRecord* audit) override;
  absl::StatusOr<StoredCertificate> GetCertificate(const std::string& serial_hex) override;
  absl::StatusOr<int64_t> RevokeHost(const std::string& host_id, absl::Time now, const AuditRecord* audit) override;
  absl::StatusOr<std::vector<std::string>> ListRevokedSerials(absl::Time now) override;

  // Signed metadata (pg_metadata.cc).
  absl::StatusOr<std::vector<RootRecord>> ListRoots() override;
  absl::StatusOr<std::vector<DelegationRecord>> ListDelegations() override;
  absl::Status PublishTrust(const std::vector<RootRecord>& roots, const std::optional<DelegationRecord>& delegation,
                            const AuditRecord* audit) override;
  absl::StatusOr<ChannelMetadataRecord> EnsureChannelMetadata(const std::string& channel_id,
                                                              const IsCurrent& is_current,
                                                              const SignAs& sign) override;

  // Staged rollouts (pg_rollouts.cc). A rollout is started by UpdateChannel
  // when a change says so (ChannelChange::starts_rollout).
  absl::StatusOr<rollout::RolloutPolicy> GetPolicy(const std::string& channel) override;
  absl::Status SetPolicy(const std::string& channel, const rollout::RolloutPolicy& policy,
                         const AuditRecord* audit) override;
  absl::StatusOr<std::optional<rollout::Rollout>> GetCurrentRollout(const std::string& channel) override;
  absl::StatusOr<std::vector<std::string>> ChannelsWithLiveRollouts() override;
  absl::StatusOr<rollout::StepInputs> LoadStepInputs(const std::string& channel, int64_t candidates,
                                                     absl::Time now) override;
  absl::StatusOr<int64_t> SaveStep(const rollout::StepResult& result, absl::Time now,
                                   const AuditRecord* audit) override;
  absl::StatusOr<RolloutSnapshot> GetSnapshot(const std::string& channel) override;
  absl::StatusOr<RolloutStatusView> GetRolloutStatus(const std::string& channel, absl::Time now) override;

  // Heartbeats in bulk (pg_liveness.cc, sql/liveness_flush.sql).
  absl::StatusOr<LivenessNotWritten> WriteLiveness(const std::vector<HostBeat>& beats) override;

  // Retention (pg_retention.cc, rollout/retention.h). Creates the table's
  // missing partitions up to policy.ahead periods after now's (moving rows
  // that waited in its default partition into them), deletes rows of the
  // default partition older than policy.keep, and drops partitions entirely
  // older. DDL waits at most 500 ms for its locks: a failure is retried by
  // the next call. Run by one replica at a time (the leader).
  absl::StatusOr<PartitionMaintenance> MaintainPartitions(PartitionedTable table,
                                                          const rollout::RetentionPolicy& policy, absl::Time now);
  // Forgets agents last seen before `cutoff`, `batch` per transaction and
  // at most `max_batches` transactions (each scans agents: there is no
  // index on last_seen), each audited with `reason`, like ForgetAgent;
  // returns how many and appends their host ids to `forgotten` (may be
  // null). Fewer than batch * max_batches: none is left. Cheap when none is
  // that old (the seen-bucket counters say so).
  absl::StatusOr<int64_t> ForgetAgentsNotSeenSince(absl::Time cutoff, const std::string& reason, int64_t batch,
                                                   int max_batches, std::vector<std::string>* forgotten);

  // Folds the counters' shards into one row per key and drops rows that
  // reached zero (versions nobody runs any more, buckets everyone has left).
  // Safe to run on any replica at any time.
  absl::Status CompactCounters();

  // True when a connection can be had and answers a trivial query.
  absl::Status Ping();

  // Transactions retried after a lost race or deadlock (see PgPool::retries).
  int64_t retries() const { return pool_.retries() + ingest_pool_.retries(); }
  // Reads meant for the replica that went to the primary because the
  // replica could not be reached.
  int64_t read_fallbacks() const { return read_fallbacks_.load(std::memory_order_relaxed); }
  // Connections closed because PostgreSQL stopped answering (QueryWatchdog).
  int64_t watchdog_closes() const { return pool_.watchdog_closes() + ingest_pool_.watchdog_closes(); }

 private:
  // sql/ingest_round.sql, prepared on every ingest connection; on Citus,
  // sql/citus_ingest_call.sql.
  static constexpr const char* kIngestStatement = "drover_ingest";
  // Set on the worker for a Citus ingest part, as plain PostgreSQL's ingest
  // connections set them for themselves.
  static constexpr const char* kCitusIngestSettings =
      "{plan_cache_mode,force_generic_plan,enable_seqscan,off,synchronous_commit,on}";

  // Ingest (pg_ingest.cc). A round's reports written by one statement: all
  // of them on plain PostgreSQL (anchor empty); on Citus those of one shard,
  // whose counter rows carry its anchor.
  struct RoundPart {
    std::string anchor;
    int64_t node = 0;             // Citus: the group id of the worker holding it
    std::vector<size_t> reports;  // indexes into the batch, in key order
  };
  struct IngestConstants {
    std::string counter_shards, seen_bucket_ms, clock_allowance_ms, now_us, sequence_lead_us;
  };
  absl::StatusOr<std::vector<RoundPart>> SplitByShard(PgPool& pool, const std::vector<std::string>& hosts,
                                                      const std::vector<size_t>& ids);
  // Writes the parts (all on one worker, on Citus) in one transaction; the
  // rows' ordinals count through the parts' reports in order.
  absl::StatusOr<pqxx::result> WriteRoundParts(const std::vector<const rollout::AgentReport*>& reports,
                                               const std::vector<RoundPart>& parts, const IngestConstants& fixed);
  // Whether the schema is distributed on Citus (migration 000012), asked
  // once (sql/citus_mode.sql).
  absl::StatusOr<bool> UsesCitus();
  // CompactCounters on Citus (pg_counters.cc).
  absl::Status CompactCountersOnShards();
  // ForgetAgentsNotSeenSince on Citus (pg_retention.cc).
  absl::StatusOr<int64_t> ForgetAgentsOnShards(int64_t cutoff_us, const std::string& reason, int64_t batch,
                                               int max_batches, std::vector<std::string>* forgotten);

  // A read that may go to the replica (PgStoreOptions::read_url), or to the
  // primary when there is none or it cannot be reached.
  template <typename T>
  absl::StatusOr<T> RunRead(absl::string_view what, const std::function<absl::StatusOr<T>(pqxx::connection&)>& fn);

  PgStoreOptions options_;
  RealClock real_clock_;
  const Clock* const clock_;
  PgPool pool_;
  PgPool ingest_pool_;
  std::unique_ptr<PgPool> read_pool_;  // null: no replica
  std::atomic<int64_t> read_fallbacks_{0};
  std::atomic<int> citus_{-1};  // -1: not known yet
};

template <typename T>
absl::StatusOr<T> PgStore::RunRead(absl::string_view what,
                                   const std::function<absl::StatusOr<T>(pqxx::connection&)>& fn) {
  if (read_pool_ == nullptr) return pool_.Run<T>(what, fn);
  absl::StatusOr<T> r = read_pool_->Run<T>(what, fn);
  // Only a replica that cannot be reached (refused, broken or frozen
  // connection) sends the read to the primary: a query that timed out there
  // would time out again here, at twice the wait.
  if (r.ok() || !absl::IsUnavailable(r.status()) || IsDatabaseTimeout(r.status())) return r;
  read_fallbacks_.fetch_add(1, std::memory_order_relaxed);
  return pool_.Run<T>(what, fn);
}

}  // namespace drover::store
