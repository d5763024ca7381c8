// PgStore: the agents' read side (agents, their update history, orphaned
// hosts).
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/rollout/rollout_status.h"
#include "coordinator/rollout/staleness.h"
#include "coordinator/store/pg_audit.h"
#include "coordinator/store/pg_rows.h"
#include "coordinator/store/pg_store.h"
#include "coordinator/store/pg_values.h"
#include "coordinator/store/sql_files.h"

namespace drover::store {
namespace {

using rollout::Health;

// The rules' constants sql/agent_columns.sql takes as $1..$3.
constexpr int kStaleAfterPollIntervals = rollout::kStaleAfterPollIntervals;
constexpr int kInstanceConflictPollIntervals = rollout::kInstanceConflictPollIntervals;
int64_t SeenBucketMs() { return Millis(rollout::kSeenBucket); }

std::optional<rollout::UpdateResult> LastResultFromColumn(int value) {
  if (value < 1 || value > 3) return std::nullopt;
  return static_cast<rollout::UpdateResult>(value);
}

// A row selected with sql/agent_columns.sql.
AgentView AgentFromRow(const pqxx::row& row) {
  AgentView v;
  v.state.host_id = row["host_id"].as<std::string>();
  v.state.channel = row["channel"].as<std::string>();
  v.state.group = row["group_name"].as<std::string>();
  v.state.current_version = row["current_version"].as<std::string>();
  v.state.health = static_cast<Health>(row["health"].as<int>());
  v.state.updater_version = row["updater_version"].as<std::string>();
  v.state.sequence = row["sequence"].as<int64_t>();
  v.state.first_seen = TimeColumn(row, "first_seen_us");
  v.state.last_seen = TimeColumn(row, "last_seen_us");
  v.stale = row["stale"].as<bool>();
  v.state.instance_id = row["instance_id"].as<std::string>();
  v.state.schedule_state = static_cast<rollout::ScheduleState>(row["schedule_state"].as<int>());
  v.state.last_result = LastResultFromColumn(row["last_result"].as<int>());
  v.state.last_result_version = row["last_result_version"].as<std::string>();
  v.state.updating_to = row["updating_to"].as<std::string>();
  v.instance_conflict = row["instance_conflict"].as<bool>();
  v.out_of_policy_reason =
      rollout::OutOfPolicyReasonFor(v.state.current_version, row["control_plane_version"].as<std::string>());
  v.out_of_policy = !v.out_of_policy_reason.empty();
  return v;
}

absl::StatusOr<std::vector<AgentView>> ListOrphans(pqxx::transaction_base& tx, const AgentFilter& filter,
                                                   const std::string& after_host_id, int limit) {
  pqxx::result r = tx.exec_params(Sql("orphan_list"), absl::ToInt64Seconds(rollout::kOrphanVisibleFor),
                                  after_host_id, filter.channel, filter.group, limit);
  std::vector<AgentView> out;
  out.reserve(r.size());
  for (const pqxx::row& row : r) {
    AgentView v;
    v.orphaned = true;
    v.state.host_id = row["host_id"].as<std::string>();
    v.state.channel = row["channel"].as<std::string>();
    v.state.group = row["group_name"].as<std::string>();
    v.state.current_version = row["current_version"].as<std::string>();
    v.state.health = static_cast<Health>(row["health"].as<int>());
    v.state.instance_id = row["instance_id"].as<std::string>();
    v.state.first_seen = TimeColumn(row, "first_seen_us");
    v.state.last_seen = TimeColumn(row, "last_seen_us");
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace

absl::StatusOr<AgentView> PgStore::GetAgent(const std::string& host_id) {
  return RunRead<AgentView>("reading agent", [&](pqxx::connection& c) -> absl::StatusOr<AgentView> {
    pqxx::read_transaction tx(c);
    pqxx::result r = tx.exec_params(Sql("agent_get"), kStaleAfterPollIntervals, SeenBucketMs(),
                                    kInstanceConflictPollIntervals, host_id);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("agent \"", host_id, "\" not found"));
    return AgentFromRow(r[0]);
  });
}

absl::StatusOr<int64_t> PgStore::CountOrphanedHosts() {
  return pool_.Run<int64_t>("counting orphaned hosts", [&](pqxx::connection& c) -> absl::StatusOr<int64_t> {
    pqxx::read_transaction tx(c);
    return tx.exec_params1(Sql("orphan_count"), absl::ToInt64Seconds(rollout::kOrphanVisibleFor))["hosts"]
        .as<int64_t>();
  });
}

absl::StatusOr<std::vector<AgentView>> PgStore::ListAgents(const AgentFilter& filter,
                                                           const std::string& after_host_id, int limit) {
  return RunRead<std::vector<AgentView>>(
      "listing agents", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<AgentView>> {
        pqxx::read_transaction tx(c);
        if (filter.orphaned_only) return ListOrphans(tx, filter, after_host_id, limit);
        if (!filter.channel.empty() && tx.exec_params(Sql("channel_exists"), filter.channel).empty()) {
          return ChannelNotFound(filter.channel);
        }
        // Out-of-policy is a property of (channel, version): find those pairs
        // from the counters, then list their agents.
        std::vector<std::string> bad_channels, bad_versions;
        if (filter.out_of_policy_only) {
          for (const pqxx::row& row : tx.exec_params(Sql("agent_versions_in_use"), filter.channel)) {
            std::string version = row["version"].as<std::string>();
            if (!rollout::OutOfPolicyReasonFor(version, row["control_plane_version"].as<std::string>()).empty()) {
              bad_channels.push_back(row["channel"].as<std::string>());
              bad_versions.push_back(std::move(version));
            }
          }
          if (bad_channels.empty()) return std::vector<AgentView>{};
        }
        pqxx::result r = tx.exec_params(
            Sql("agent_list"), kStaleAfterPollIntervals, SeenBucketMs(), kInstanceConflictPollIntervals,
            after_host_id, filter.channel, filter.version, filter.health ? static_cast<int>(*filter.health) : 0,
            filter.stale_only, filter.out_of_policy_only, TextArray(bad_channels), TextArray(bad_versions),
            filter.group, filter.instance_conflict_only,
            filter.last_result ? static_cast<int>(*filter.last_result) : 0, limit);
        std::vector<AgentView> out;
        out.reserve(r.size());
        for (const pqxx::row& row : r) out.push_back(AgentFromRow(row));
        return out;
      });
}

absl::StatusOr<std::vector<StoredUpdateEvent>> PgStore::ListUpdateEvents(const std::string& host_id,
                                                                         int64_t before_id, int limit) {
  return RunRead<std::vector<StoredUpdateEvent>>(
      "listing update events", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<StoredUpdateEvent>> {
        pqxx::read_transaction tx(c);
        pqxx::result r = tx.exec_params(Sql("update_events_list"), host_id, before_id, limit);
        std::vector<StoredUpdateEvent> out;
        out.reserve(r.size());
        for (const pqxx::row& row : r) {
          StoredUpdateEvent e;
          e.id = row["id"].as<int64_t>();
          e.host_id = row["host_id"].as<std::string>();
          e.channel = row["channel"].as<std::string>();
          e.outcome.from_version = row["from_version"].as<std::string>();
          e.outcome.to_version = row["to_version"].as<std::string>();
          e.outcome.result = static_cast<rollout::UpdateResult>(row["result"].as<int>());
          e.outcome.error = row["error"].as<std::string>();
          e.outcome.start_time = TimeColumn(row, "started_at_us");
          e.outcome.finish_time = TimeColumn(row, "finished_at_us");
          e.recorded_at = TimeColumn(row, "recorded_at_us");
          out.push_back(std::move(e));
        }
        return out;
      });
}

}  // namespace drover::store

namespace drover::store {

absl::StatusOr<ForgottenAgent> PgStore::ForgetAgent(const std::string& host_id, const AuditRecord* audit) {
  absl::StatusOr<bool> citus = UsesCitus();
  if (!citus.ok()) return citus.status();
  std::string anchor;  // Citus: the anchor of the host's shard
  if (*citus) {
    absl::StatusOr<std::vector<RoundPart>> parts = SplitByShard(pool_, {host_id}, {0});
    if (!parts.ok()) return parts.status();
    anchor = parts->at(0).anchor;
  }
  return pool_.Run<ForgottenAgent>("forgetting agent", [&](pqxx::connection& c) -> absl::StatusOr<ForgottenAgent> {
    pqxx::work tx(c);
    // On Citus the host's rows go on its shard's worker, within this
    // transaction (a force-delegated call, migration 000012).
    const pqxx::row r =
        anchor.empty() ? tx.exec_params1(Sql("agent_forget"), host_id, kCounterShards, SeenBucketMs())
                       : tx.exec_params1(Sql("citus_agent_forget_call"), anchor, Sql("citus_agent_forget"), "{}",
                                         host_id, kCounterShards, SeenBucketMs(), anchor);
    if (r["channel"].is_null() && !r["orphan_removed"].as<bool>()) {
      return absl::NotFoundError(absl::StrCat("agent \"", host_id, "\" not found: nothing stored to forget"));
    }
    ForgottenAgent forgotten;
    if (!r["channel"].is_null()) {
      forgotten.channel = r["channel"].as<std::string>();
      forgotten.sequence = r["sequence"].as<int64_t>();
      // In the channel's history, like the operator's other changes.
      tx.exec_params0(Sql("channel_change_insert"), forgotten.channel, "agent_forgotten",
                      absl::StrCat(host_id, " sequence=", forgotten.sequence), "",
                      audit != nullptr ? audit->actor : "");
    }
    if (audit != nullptr) {
      AuditRecord a = *audit;
      a.object = absl::StrCat("hosts/", host_id);
      a.old_value = forgotten.channel.empty()
                        ? "orphaned host"
                        : absl::StrCat("channel=", forgotten.channel, " sequence=", forgotten.sequence);
      InsertAuditEvent(tx, a);
    }
    tx.commit();
    return forgotten;
  });
}

}  // namespace drover::store
