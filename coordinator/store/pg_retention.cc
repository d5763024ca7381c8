// PgStore: retention. Time partitions of update_events and audit_events
// created ahead and dropped past their retention, and agents not seen for
// long forgotten (rollout/retention.h has the rules).
#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/rollout/staleness.h"
#include "coordinator/store/pg_rows.h"
#include "coordinator/store/pg_store.h"
#include "coordinator/store/pg_values.h"
#include "coordinator/store/sql_files.h"

namespace drover::store {
namespace {

struct TableSpec {
  const char* table;
  const char* column;
};

TableSpec SpecOf(PartitionedTable table) {
  switch (table) {
    case PartitionedTable::kUpdateEvents:
      return {"update_events", "recorded_at"};
    case PartitionedTable::kAuditEvents:
      return {"audit_events", "at"};
  }
  return {"update_events", "recorded_at"};
}

// DDL waits at most this long for its locks, then gives up until the next
// maintenance: a long reader of the table must not queue every insert behind
// our lock request (dropping a partition locks the parent table).
constexpr const char* kDdlLockTimeout = "SET LOCAL lock_timeout = '500ms'";

// The bounds' text (pg_get_expr) follows the session's TimeZone and
// DateStyle; in UTC and ISO it reads back unambiguously.
constexpr const char* kBoundsFormat = "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'";

std::string Literal(pqxx::transaction_base& tx, absl::Time t) {
  // UTC, microseconds: the form PostgreSQL reads back exactly.
  return tx.quote(absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", t, absl::UTCTimeZone()));
}

}  // namespace

absl::StatusOr<PartitionMaintenance> PgStore::MaintainPartitions(PartitionedTable table,
                                                                 const rollout::RetentionPolicy& policy,
                                                                 absl::Time now) {
  const TableSpec spec = SpecOf(table);
  // The partitions and their names: a partition is dropped by its bounds,
  // whatever it is called (it may have been made by hand).
  struct Listed {
    std::vector<rollout::PartitionRange> ranges;
    std::vector<std::string> names;
  };
  absl::StatusOr<Listed> listed =
      pool_.Run<Listed>("listing partitions", [&](pqxx::connection& c) -> absl::StatusOr<Listed> {
        pqxx::read_transaction tx(c);
        // partitions_list.sql reads the bounds back from their text form.
        tx.exec(kBoundsFormat);
        Listed out;
        for (const pqxx::row& row : tx.exec_params(Sql("partitions_list"), spec.table)) {
          if (row["from_us"].is_null() || row["to_us"].is_null()) continue;
          out.ranges.push_back({store::FromUnixMicros(row["from_us"].as<int64_t>()),
                                store::FromUnixMicros(row["to_us"].as<int64_t>())});
          out.names.push_back(row["name"].as<std::string>());
        }
        return out;
      });
  if (!listed.ok()) return listed.status();
  const rollout::PartitionPlan plan = rollout::PlanPartitions(listed->ranges, now, policy);
  PartitionMaintenance done;
  const std::string default_partition = absl::StrCat(spec.table, "_default");
  for (const rollout::PartitionRange& r : plan.create) {
    const std::string name = rollout::PartitionName(spec.table, r, policy.period);
    absl::StatusOr<int64_t> moved = pool_.Run<int64_t>(
        "creating a partition", [&](pqxx::connection& c) -> absl::StatusOr<int64_t> {
          pqxx::work tx(c);
          tx.exec(kDdlLockTimeout);
          // Rows that found no partition wait in the default partition: they
          // move into the new one in the same transaction. The default is
          // locked first so that no row for this range lands there between
          // the move and the attach (which would then fail); inserts for
          // times that have a partition do not touch it.
          tx.exec(absl::StrCat("LOCK TABLE ", tx.quote_name(default_partition), " IN SHARE ROW EXCLUSIVE MODE"));
          tx.exec(absl::StrCat("CREATE TABLE ", tx.quote_name(name), " (LIKE ", tx.quote_name(spec.table),
                               " INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"));
          const std::string in_range = absl::StrCat(tx.quote_name(spec.column), " >= ", Literal(tx, r.from), " AND ",
                                                    tx.quote_name(spec.column), " < ", Literal(tx, r.to));
          const pqxx::result m = tx.exec(absl::StrCat(
              "WITH moved AS (DELETE FROM ", tx.quote_name(default_partition), " WHERE ", in_range,
              " RETURNING *) INSERT INTO ", tx.quote_name(name), " SELECT * FROM moved"));
          // ATTACH locks the parent only against other DDL (SHARE UPDATE
          // EXCLUSIVE), so inserts into other partitions go on; but it
          // holds the default partition exclusively while it checks it (it
          // is empty or nearly), so readers of the whole table wait for
          // that instant, or this gives up after the lock timeout.
          tx.exec(absl::StrCat("ALTER TABLE ", tx.quote_name(spec.table), " ATTACH PARTITION ", tx.quote_name(name),
                               " FOR VALUES FROM (", Literal(tx, r.from), ") TO (", Literal(tx, r.to), ")"));
          tx.commit();
          return static_cast<int64_t>(m.affected_rows());
        });
    if (!moved.ok()) return moved.status();
    ++done.created;
    done.rows_moved += *moved;
  }
  // Rows in the default partition older than the retention have no
  // partition to be dropped with.
  if (policy.keep > absl::ZeroDuration()) {
    absl::StatusOr<int64_t> deleted = pool_.Run<int64_t>(
        "expiring unpartitioned rows", [&](pqxx::connection& c) -> absl::StatusOr<int64_t> {
          pqxx::work tx(c);
          const pqxx::result r = tx.exec(absl::StrCat("DELETE FROM ", tx.quote_name(default_partition), " WHERE ",
                                                      tx.quote_name(spec.column), " < ",
                                                      Literal(tx, now - policy.keep)));
          tx.commit();
          return static_cast<int64_t>(r.affected_rows());
        });
    if (!deleted.ok()) return deleted.status();
    done.rows_expired += *deleted;
  }
  for (const rollout::PartitionRange& r : plan.drop) {
    const size_t i = std::find(listed->ranges.begin(), listed->ranges.end(), r) - listed->ranges.begin();
    const std::string& name = listed->names[i];  // PlanPartitions drops only listed ranges
    absl::StatusOr<bool> dropped =
        pool_.Run<bool>("dropping a partition", [&](pqxx::connection& c) -> absl::StatusOr<bool> {
          pqxx::work tx(c);
          tx.exec(kDdlLockTimeout);
          // Gone meanwhile: another replica dropped it.
          if (tx.exec_params1("SELECT to_regclass($1) IS NULL", tx.quote_name(name))[0].as<bool>()) return false;
          tx.exec(absl::StrCat("DROP TABLE ", tx.quote_name(name)));
          tx.commit();
          return true;
        });
    if (!dropped.ok()) return dropped.status();
    if (*dropped) done.dropped.push_back(name);
  }
  return done;
}

absl::StatusOr<int64_t> PgStore::ForgetAgentsNotSeenSince(absl::Time cutoff, const std::string& reason,
                                                          int64_t batch, int max_batches,
                                                          std::vector<std::string>* forgotten) {
  if (cutoff == absl::InfinitePast()) return 0;
  const int64_t cutoff_us = store::ToUnixMicros(cutoff);
  const int64_t bucket_ms = Millis(rollout::kSeenBucket);
  absl::StatusOr<bool> any = pool_.Run<bool>("checking for agents to forget", [&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return absl::StatusOr<bool>(tx.exec_params1(Sql("agents_expire_any"), cutoff_us, bucket_ms)["any"].as<bool>());
  });
  if (!any.ok()) return any.status();
  if (!*any) return 0;
  absl::StatusOr<bool> citus = UsesCitus();
  if (!citus.ok()) return citus.status();
  if (*citus) return ForgetAgentsOnShards(cutoff_us, reason, batch, max_batches, forgotten);
  int64_t total = 0;
  for (int round = 0; round < max_batches; ++round) {
    absl::StatusOr<pqxx::result> gone =
        pool_.Run<pqxx::result>("forgetting agents not seen", [&](pqxx::connection& c) -> absl::StatusOr<pqxx::result> {
          pqxx::work tx(c);
          // No index on last_seen (000002_seen_buckets): one pass over agents.
          tx.exec("SET LOCAL enable_seqscan = on");
          pqxx::result r =
              tx.exec_params(Sql("agents_expire"), cutoff_us, batch, kCounterShards, bucket_ms, reason);
          tx.commit();
          return r;
        });
    if (!gone.ok()) return gone.status();
    total += static_cast<int64_t>(gone->size());
    if (forgotten != nullptr) {
      for (const pqxx::row& row : *gone) forgotten->push_back(row["host_id"].as<std::string>());
    }
    if (static_cast<int64_t>(gone->size()) < batch) break;
  }
  return total;
}

absl::StatusOr<int64_t> PgStore::ForgetAgentsOnShards(int64_t cutoff_us, const std::string& reason, int64_t batch,
                                                      int max_batches, std::vector<std::string>* forgotten) {
  const int64_t bucket_ms = Millis(rollout::kSeenBucket);
  absl::StatusOr<std::vector<std::string>> anchors =
      pool_.Run<std::vector<std::string>>("listing shards", [](pqxx::connection& c) {
        pqxx::nontransaction tx(c);
        std::vector<std::string> out;
        for (const pqxx::row& row : tx.exec(Sql("citus_anchors"))) out.push_back(row[0].as<std::string>());
        return absl::StatusOr<std::vector<std::string>>(std::move(out));
      });
  if (!anchors.ok()) return anchors.status();
  // The same budget as on plain PostgreSQL, batch * max_batches agents, at
  // most `batch` a transaction, each on one shard: its worker forgets them
  // and this transaction audits them (audit_events is the coordinator
  // node's), committed together.
  const int64_t budget = batch * max_batches;
  int64_t total = 0;
  for (const std::string& anchor : *anchors) {
    while (total < budget) {
      absl::StatusOr<pqxx::result> gone = pool_.Run<pqxx::result>(
          "forgetting agents not seen", [&](pqxx::connection& c) -> absl::StatusOr<pqxx::result> {
            pqxx::work tx(c);
            pqxx::result r = tx.exec_params(Sql("citus_agents_expire_call"), anchor, Sql("citus_agents_expire"),
                                            "{enable_seqscan,on}", cutoff_us, std::min(batch, budget - total),
                                            kCounterShards, bucket_ms, anchor);
            if (!r.empty()) {
              ArrayLiteral hosts, old_values;
              for (const pqxx::row& row : r) {
                hosts.Add(row["host_id"].as<std::string>());
                old_values.Add(row["old_value"].as<std::string>());
              }
              tx.exec_params0(Sql("citus_agents_expire_audit"), std::move(hosts).Finish(),
                              std::move(old_values).Finish(), reason);
            }
            tx.commit();
            return r;
          });
      if (!gone.ok()) return gone.status();
      total += static_cast<int64_t>(gone->size());
      if (forgotten != nullptr) {
        for (const pqxx::row& row : *gone) forgotten->push_back(row["host_id"].as<std::string>());
      }
      if (static_cast<int64_t>(gone->size()) < batch) break;
    }
  }
  return total;
}

}  // namespace drover::store
