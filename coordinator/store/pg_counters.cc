// PgStore: the fleet counters, read as rollout inputs and compacted.
#include <vector>

#include "coordinator/rollout/staleness.h"
#include "coordinator/store/pg_rows.h"
#include "coordinator/store/pg_store.h"
#include "coordinator/store/sql_files.h"

namespace drover::store {
namespace {

using rollout::Channel;
using rollout::Health;

absl::StatusOr<RolloutInputs> ReadRolloutInputs(pqxx::transaction_base& tx, const pqxx::row& channel_row) {
  RolloutInputs in;
  absl::StatusOr<Channel> ch = ChannelFromRow(channel_row);
  if (!ch.ok()) return ch.status();
  in.channel = *std::move(ch);
  for (const pqxx::row& row : tx.exec_params(Sql("rollout_version_counts"), in.channel.id)) {
    in.counts.push_back({row["version"].as<std::string>(), static_cast<Health>(row["health"].as<int>()),
                         row["agents"].as<int64_t>()});
  }
  for (const pqxx::row& row :
       tx.exec_params(Sql("rollout_outcome_counts"), in.channel.id, in.channel.target_epoch)) {
    in.outcomes_since_target.push_back(
        {static_cast<rollout::UpdateResult>(row["result"].as<int>()), row["outcomes"].as<int64_t>()});
  }
  in.stale_agents = tx.exec_params1(Sql("rollout_stale_agents"), in.channel.id,
                                    Millis(rollout::StaleAfter(in.channel)), Millis(rollout::kSeenBucket))["agents"]
                        .as<int64_t>();
  for (const pqxx::row& row : tx.exec_params(Sql("rollout_schedule_counts"), in.channel.id)) {
    in.schedule_states.push_back(
        {static_cast<rollout::ScheduleState>(row["state"].as<int>()), row["agents"].as<int64_t>()});
  }
  in.instance_conflicts = tx.exec_params1(Sql("rollout_instance_conflicts"), in.channel.id,
                                          Millis(rollout::InstanceConflictFor(in.channel.poll_interval)))["hosts"]
                              .as<int64_t>();
  return in;
}

}  // namespace

absl::StatusOr<RolloutInputs> PgStore::GetRolloutInputs(const std::string& channel_id) {
  return pool_.Run<RolloutInputs>("reading rollout status", [&](pqxx::connection& c) -> absl::StatusOr<RolloutInputs> {
    // One snapshot, so the counters agree with each other.
    pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::read_only> tx(c);
    pqxx::result r = tx.exec_params(Sql("channel_read"), channel_id);
    if (r.empty()) return ChannelNotFound(channel_id);
    return ReadRolloutInputs(tx, r[0]);
  });
}

absl::StatusOr<std::vector<RolloutInputs>> PgStore::GetAllRolloutInputs() {
  return pool_.Run<std::vector<RolloutInputs>>(
      "reading fleet counters", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<RolloutInputs>> {
        pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::read_only> tx(c);
        std::vector<RolloutInputs> out;
        for (const pqxx::row& row : tx.exec(Sql("channel_list"))) {
          absl::StatusOr<RolloutInputs> in = ReadRolloutInputs(tx, row);
          if (!in.ok()) return in.status();
          out.push_back(*std::move(in));
        }
        return out;
      });
}

absl::Status PgStore::CompactCounters() {
  absl::StatusOr<bool> citus = UsesCitus();
  if (!citus.ok()) return citus.status();
  if (*citus) return CompactCountersOnShards();
  return pool_
      .Run<bool>("compacting counters",
                 [](pqxx::connection& c) -> absl::StatusOr<bool> {
                   // One table per transaction: a fold never holds one
                   // table's rows while it waits for another's (holding all
                   // four deadlocked with ingest batches, which take them in
                   // their own order). The folds themselves never wait for a
                   // writer (counters_fold_fleet.sql). One compaction at a
                   // time across replicas: the others skip their turn.
                   for (const char* fold : {"counters_fold_fleet", "counters_fold_outcomes", "counters_fold_schedule",
                                            "counters_fold_seen"}) {
                     pqxx::work tx(c);
                     if (!tx.exec1(Sql("counters_fold_lock"))[0].as<bool>()) return true;
                     tx.exec(Sql(fold));
                     tx.commit();
                   }
                   // Orphans are listed for kOrphanVisibleFor; older rows serve nobody.
                   pqxx::work tx(c);
                   tx.exec_params0(Sql("orphan_hosts_expire"), absl::ToInt64Seconds(rollout::kOrphanVisibleFor));
                   tx.commit();
                   return true;
                 })
      .status();
}

absl::Status PgStore::CompactCountersOnShards() {
  return pool_
      .Run<bool>("compacting counters",
                 [](pqxx::connection& c) -> absl::StatusOr<bool> {
                   // The same folds as on plain PostgreSQL, run by each
                   // shard's worker on its own rows (each a transaction
                   // there), one compaction at a time across replicas.
                   pqxx::nontransaction tx(c);
                   if (!tx.exec1(Sql("citus_counters_fold_lock"))[0].as<bool>()) return true;
                   struct Unlock {
                     pqxx::nontransaction& tx;
                     ~Unlock() {
                       try {
                         tx.exec(Sql("citus_counters_fold_unlock"));
                       } catch (...) {
                         // The lock goes with the session, which the pool drops.
                       }
                     }
                   } unlock{tx};
                   std::vector<std::string> anchors;
                   for (const pqxx::row& row : tx.exec(Sql("citus_anchors"))) anchors.push_back(row[0].as<std::string>());
                   for (const char* table : {"fleet", "outcomes", "schedule", "seen"}) {
                     const std::string& fold = Sql(absl::StrCat("citus_counters_fold_", table));
                     const std::string& drop_zero = Sql(absl::StrCat("citus_counters_drop_zero_", table));
                     for (const std::string& anchor : anchors) {
                       tx.exec_params(Sql("citus_on_shard_count"), anchor, fold, "{}");
                       tx.exec_params(Sql("citus_on_shard_count"), anchor, drop_zero, "{}");
                     }
                   }
                   tx.exec_params0(Sql("orphan_hosts_expire"), absl::ToInt64Seconds(rollout::kOrphanVisibleFor));
                   return true;
                 })
      .status();
}

}  // namespace drover::store
