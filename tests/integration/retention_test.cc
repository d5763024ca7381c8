// Retention against a real PostgreSQL: the migration to time partitions,
// PgStore::MaintainPartitions and PgStore::ForgetAgentsNotSeenSince.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "coordinator/rollout/retention.h"
#include "coordinator/server.h"
#include "coordinator/store/migrator.h"
#include "coordinator/store/pg_store.h"
#include "tests/integration/store_fixture.h"
#include "tests/support/test_env.h"

namespace drover::store {
namespace {

using ::drover::testing::CoordinatorProcess;
using ::drover::testing::FleetCounterMismatches;
using ::drover::testing::HttpGet;
using ::drover::testing::MetricValue;
using ::drover::testing::PollUntil;
using ::drover::testing::NewTestDatabase;
using ::drover::testing::QueryValue;

std::vector<Migration> MigrationsUpTo(int64_t version) {
  absl::StatusOr<std::vector<Migration>> all = ParseMigrations(EmbeddedMigrationFiles());
  EXPECT_TRUE(all.ok());
  std::vector<Migration> out;
  for (const Migration& m : *all) {
    if (m.version <= version) out.push_back(m);
  }
  return out;
}

std::string DayName(const std::string& table, absl::Time t) {
  return rollout::PartitionName(table, rollout::PeriodOf(t, rollout::PartitionPeriod::kDay),
                                rollout::PartitionPeriod::kDay);
}

TEST(TimePartitionMigrationTest, EveryRowIsKeptAndLandsInThePartitionOfItsTime) {
  // A database as the previous schema left it, with 100 days of update
  // history and 500 days of audit trail.
  const std::string db = NewTestDatabase();
  pqxx::connection conn(db);
  ASSERT_TRUE(MigrateUp(conn, MigrationsUpTo(10)).ok());
  QueryValue(db,
             "WITH e AS (INSERT INTO update_events (host_id, channel, from_version, to_version, result, error, "
             "started_at, finished_at, report_sequence, recorded_at) "
             "SELECT 'h' || (i % 7), 'prod', '15.1.0', '15.2.0', 1 + i % 3, 'e' || i, now(), now(), i, "
             "now() - i * interval '1 hour' FROM generate_series(1, 2400) i RETURNING 1), "
             "a AS (INSERT INTO audit_events (at, actor, peer, method, object, result) "
             "SELECT now() - i * interval '1 day', 'alice', '10.0.0.1', 'UpdateChannel', 'channels/prod', 'ok' "
             "FROM generate_series(1, 500) i RETURNING 1) "
             "SELECT (SELECT count(*) FROM e) + (SELECT count(*) FROM a)");
  const std::string events_before =
      QueryValue(db, "SELECT count(*) || ' ' || sum(id) || ' ' || md5(string_agg(host_id || error || recorded_at, ',' "
                     "ORDER BY id)) FROM update_events");
  const std::string audit_before =
      QueryValue(db, "SELECT count(*) || ' ' || sum(id) || ' ' || md5(string_agg(actor || at, ',' ORDER BY id)) "
                     "FROM audit_events");
  const std::string max_event_id = QueryValue(db, "SELECT max(id) FROM update_events");

  // A session in a zone 5:30 off UTC: the partitions must still be UTC days.
  {
    pqxx::nontransaction tx(conn);
    tx.exec("SET TimeZone = 'Asia/Kolkata'");
  }
  absl::StatusOr<MigrateResult> up = MigrateUp(conn, MigrationsUpTo(11));
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(QueryValue(db, "SELECT count(*) || ' ' || sum(id) || ' ' || md5(string_agg(host_id || error || "
                           "recorded_at, ',' ORDER BY id)) FROM update_events"),
            events_before);
  EXPECT_EQ(QueryValue(db, "SELECT count(*) || ' ' || sum(id) || ' ' || md5(string_agg(actor || at, ',' ORDER BY "
                           "id)) FROM audit_events"),
            audit_before);
  EXPECT_EQ(QueryValue(db, "SELECT relkind FROM pg_class WHERE relname = 'update_events'"), "p");
  // Each row in its own UTC day's partition (its month's before this
  // month), none in the defaults.
  EXPECT_EQ(QueryValue(db, "SELECT count(*) FROM update_events WHERE tableoid::regclass::text <> "
                           "'update_events_p' || to_char(recorded_at AT TIME ZONE 'UTC', "
                           "CASE WHEN recorded_at < date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' "
                           "THEN 'YYYYMM' ELSE 'YYYYMMDD' END)"),
            "0");
  EXPECT_NE(QueryValue(db, "SELECT count(DISTINCT tableoid) FROM update_events"), "1");
  EXPECT_EQ(QueryValue(db, "SELECT count(*) FROM audit_events WHERE tableoid::regclass::text <> "
                           "'audit_events_p' || to_char(at AT TIME ZONE 'UTC', 'YYYYMM')"),
            "0");
  EXPECT_EQ(QueryValue(db, "SELECT count(*) FROM update_events_default"), "0");
  // Partitions ahead: a week of days, two months.
  EXPECT_EQ(QueryValue(db, absl::StrCat("SELECT count(*) FROM pg_class WHERE relname = '",
                                        DayName("update_events", absl::Now() + absl::Hours(24 * 7)), "'")),
            "1");
  // Ids go on where they were.
  QueryValue(db,
             "INSERT INTO update_events (host_id, channel, from_version, to_version, result, started_at, finished_at, "
             "report_sequence) VALUES ('new', 'prod', '1', '2', 1, now(), now(), 1) RETURNING id");
  EXPECT_EQ(QueryValue(db, "SELECT max(id) FROM update_events"), absl::StrCat(std::stoll(max_event_id) + 1));
}

class RetentionTest : public ::drover::testing::StoreWithChannelTest {
 protected:
  void InsertEvent(const std::string& host, absl::Time recorded_at) {
    QueryValue(db_, absl::StrCat("INSERT INTO update_events (host_id, channel, from_version, to_version, result, "
                                 "started_at, finished_at, report_sequence, recorded_at) VALUES ('",
                                 host, "', 'prod', '15.1.0', '15.2.0', 1, now(), now(), 1, to_timestamp(",
                                 absl::ToUnixSeconds(recorded_at), ")) RETURNING id"));
  }

  // Asked partition by partition: on Citus, a row's tableoid is its shard's,
  // which the coordinator node does not know.
  std::string PartitionOf(const std::string& host) {
    std::string found;
    for (const std::string& partition :
         ::drover::testing::QueryColumn(db_, "SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'update_events'::regclass")) {
      if (QueryValue(db_, absl::StrCat("SELECT count(*) FROM ", partition, " WHERE host_id = '", host, "'")) != "0") {
        found += (found.empty() ? "" : ",") + partition;
      }
    }
    return found;
  }
};

TEST_F(RetentionTest, PartitionsAreMadeAheadAndDroppedPastTheRetention) {
  const absl::Time now = absl::Now();
  InsertEvent("today", now);
  const absl::Time later = now + absl::Hours(24 * 10);
  absl::StatusOr<PartitionMaintenance> done =
      store_->MaintainPartitions(PartitionedTable::kUpdateEvents, rollout::UpdateEventsRetention(absl::Hours(48)), later);
  ASSERT_TRUE(done.ok()) << done.status();
  // The migration made today .. today+7; ten days on, the missed days +8
  // and +9 (still within two days) and +10 .. +17 are new, and every day
  // that ended more than two days before is gone, today's row with it.
  EXPECT_EQ(done->created, 10);
  EXPECT_EQ(done->dropped.size(), 8u);
  EXPECT_EQ(done->dropped.front(), DayName("update_events", now));
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM update_events"), "0");
  EXPECT_EQ(QueryValue(db_, absl::StrCat("SELECT to_regclass('", DayName("update_events", later + absl::Hours(24 * 7)),
                                         "') IS NOT NULL")),
            "t");
  // Run again: nothing left to do.
  done = store_->MaintainPartitions(PartitionedTable::kUpdateEvents, rollout::UpdateEventsRetention(absl::Hours(48)),
                                    later);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->created, 0);
  EXPECT_TRUE(done->dropped.empty());
}

TEST_F(RetentionTest, RowsThatFoundNoPartitionMoveIntoTheirOwnWhenItIsMade) {
  // Coordinators down for three weeks: nothing was made ahead for this day.
  const absl::Time far = absl::Now() + absl::Hours(24 * 21);
  InsertEvent("waiting", far);
  EXPECT_EQ(PartitionOf("waiting"), "update_events_default");
  absl::StatusOr<PartitionMaintenance> done =
      store_->MaintainPartitions(PartitionedTable::kUpdateEvents, rollout::UpdateEventsRetention(absl::ZeroDuration()),
                                 far);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->rows_moved, 1);
  EXPECT_TRUE(done->dropped.empty());  // kept for ever
  EXPECT_EQ(PartitionOf("waiting"), DayName("update_events", far));
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM update_events_default"), "0");
}

TEST_F(RetentionTest, DefaultPartitionRowsOlderThanTheRetentionAreDeleted) {
  const absl::Time now = absl::Now();
  InsertEvent("ancient", now - absl::Hours(24 * 400));
  InsertEvent("recent", now - absl::Hours(24 * 30));
  EXPECT_EQ(PartitionOf("ancient"), "update_events_default");
  absl::StatusOr<PartitionMaintenance> done =
      store_->MaintainPartitions(PartitionedTable::kUpdateEvents, rollout::UpdateEventsRetention(absl::Hours(24 * 90)),
                                 now);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->rows_expired, 1);
  EXPECT_EQ(QueryValue(db_, "SELECT string_agg(host_id, ',') FROM update_events"), "recent");
}

TEST_F(RetentionTest, AuditTrailPartitionsAreMonths) {
  const absl::Time now = absl::Now();
  absl::StatusOr<PartitionMaintenance> done = store_->MaintainPartitions(
      PartitionedTable::kAuditEvents, rollout::AuditEventsRetention(rollout::kDefaultAuditRetention),
      now + absl::Hours(24 * 365 * 2));
  ASSERT_TRUE(done.ok()) << done.status();
  // Two years on: that month and two ahead, and the missed months still
  // within 400 days (a year on is), not those already past (three months on).
  const auto exists = [&](absl::Time t) {
    return QueryValue(db_, absl::StrCat("SELECT to_regclass('",
                                        rollout::PartitionName("audit_events",
                                                               rollout::PeriodOf(t, rollout::PartitionPeriod::kMonth),
                                                               rollout::PartitionPeriod::kMonth),
                                        "') IS NOT NULL")) == "t";
  };
  EXPECT_TRUE(exists(now + absl::Hours(24 * 365 * 2)));
  EXPECT_TRUE(exists(now + absl::Hours(24 * 365 * 2 + 24 * 40)));
  EXPECT_TRUE(exists(now + absl::Hours(24 * 365)));
  EXPECT_FALSE(exists(now + absl::Hours(24 * 92)));
  EXPECT_GE(done->created, 14);
  // Every month the migration made (this one and two ahead) is past 400 days by then.
  EXPECT_EQ(done->dropped.size(), 3u);
  EXPECT_EQ(done->dropped.front(),
            rollout::PartitionName("audit_events", rollout::PeriodOf(now, rollout::PartitionPeriod::kMonth),
                                   rollout::PartitionPeriod::kMonth));
}

// ATTACH (of a new partition) and DROP both need the default partition or
// the parent to themselves for an instant; behind a long reader they give up
// after 500 ms instead of queueing every insert behind their lock request.
TEST_F(RetentionTest, MaintenanceWaitingOnALongReaderGivesUpAndIsRetried) {
  const absl::Time later = absl::Now() + absl::Hours(24 * 10);
  // A reader of update_events that stays in its transaction.
  pqxx::connection reader(db_);
  pqxx::work reading(reader);
  reading.exec("SELECT count(*) FROM update_events");
  const absl::Time start = absl::Now();
  absl::StatusOr<PartitionMaintenance> done =
      store_->MaintainPartitions(PartitionedTable::kUpdateEvents, rollout::UpdateEventsRetention(absl::Hours(48)), later);
  const absl::Duration waited = absl::Now() - start;
  ASSERT_FALSE(done.ok());
  // Bounded by the lock timeout (500 ms per attempt, and the pool's retries),
  // not by the reader; and no database text reaches the caller.
  EXPECT_LT(waited, absl::Seconds(10));
  EXPECT_EQ(std::string(done.status().message()).find("lock timeout"), std::string::npos) << done.status();
  // The reader ends: the next maintenance does it all.
  reading.abort();
  done = store_->MaintainPartitions(PartitionedTable::kUpdateEvents, rollout::UpdateEventsRetention(absl::Hours(48)),
                                    later);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->dropped.size(), 8u);
}

// The same for a drop alone (nothing to create): DROP TABLE of a partition
// needs the parent to itself.
TEST_F(RetentionTest, ADropBehindALongReaderGivesUpAndIsRetried) {
  const rollout::RetentionPolicy drop_only{.period = rollout::PartitionPeriod::kDay, .ahead = 0,
                                           .keep = absl::Hours(48)};
  const absl::Time later = absl::Now() + absl::Hours(24 * 4);  // today's partitions exist up to +7
  pqxx::connection reader(db_);
  pqxx::work reading(reader);
  reading.exec("SELECT count(*) FROM update_events");
  absl::StatusOr<PartitionMaintenance> done =
      store_->MaintainPartitions(PartitionedTable::kUpdateEvents, drop_only, later);
  ASSERT_FALSE(done.ok());
  EXPECT_TRUE(absl::IsUnavailable(done.status())) << done.status();
  reading.abort();
  done = store_->MaintainPartitions(PartitionedTable::kUpdateEvents, drop_only, later);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->created, 0);
  EXPECT_EQ(done->dropped.size(), 2u);  // today and tomorrow
}

// Makes `host` last seen `ago`, moving the seen-bucket counters along.
void SeenAgo(const std::string& db, const std::string& host, absl::Duration ago) {
  QueryValue(db, absl::StrCat("UPDATE agents SET last_seen = now() - interval '", absl::ToInt64Seconds(ago),
                              " seconds' WHERE host_id = '", host, "' RETURNING 1"));
  QueryValue(db, "WITH d AS (DELETE FROM seen_counts RETURNING 1) SELECT count(*) FROM d");
  QueryValue(db,
             "WITH i AS (INSERT INTO seen_counts (channel, bucket, shard, agents) "
             "SELECT channel, date_bin(interval '10 seconds', last_seen, 'epoch'), 0, count(*) FROM agents "
             "GROUP BY 1, 2 RETURNING 1) SELECT count(*) FROM i");
}

TEST_F(RetentionTest, AgentsNotSeenForLongAreForgottenAuditedAndUncounted) {
  std::vector<rollout::AgentReport> reports;
  for (const char* h : {"gone1", "gone2", "gone3", "here"}) {
    rollout::AgentReport r;
    r.host_id = h;
    r.channel = "prod";
    r.current_version = "15.1.0";
    r.sequence = 1;
    r.schedule_state = rollout::ScheduleState::kOk;
    reports.push_back(r);
  }
  std::vector<const rollout::AgentReport*> ptrs;
  for (const auto& r : reports) ptrs.push_back(&r);
  ASSERT_TRUE(store_->ApplyReports(ptrs).ok());
  const absl::Time now = absl::Now();
  // Nobody is old yet: nothing, and without a scan of agents.
  absl::StatusOr<int64_t> n = store_->ForgetAgentsNotSeenSince(now - absl::Hours(24 * 30), "r", 1, 10, nullptr);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0);

  for (const char* h : {"gone1", "gone2", "gone3"}) SeenAgo(db_, h, absl::Hours(24 * 31));
  SeenAgo(db_, "here", absl::Hours(24 * 29));
  ASSERT_EQ(FleetCounterMismatches(db_), 0);
  std::vector<std::string> forgotten;
  // One per transaction, at most two transactions: two now, the third on
  // the next call.
  n = store_->ForgetAgentsNotSeenSince(rollout::ForgetAgentsCutoff(now, rollout::kDefaultForgetAgentsAfter),
                                       "not seen for 720h", 1, 2, &forgotten);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 2);
  n = store_->ForgetAgentsNotSeenSince(rollout::ForgetAgentsCutoff(now, rollout::kDefaultForgetAgentsAfter),
                                       "not seen for 720h", 1, 2, &forgotten);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 1);
  std::sort(forgotten.begin(), forgotten.end());
  EXPECT_EQ(forgotten, (std::vector<std::string>{"gone1", "gone2", "gone3"}));
  EXPECT_EQ(QueryValue(db_, "SELECT string_agg(host_id, ',') FROM agents"), "here");
  EXPECT_EQ(FleetCounterMismatches(db_), 0);
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) || ' ' || min(actor) || ' ' || min(reason) || ' ' || min(object) "
                            "FROM audit_events WHERE method = 'ForgetStaleAgents'"),
            "3 coordinator not seen for 720h hosts/gone1");
  // Their next report is a first report again.
  rollout::AgentReport back = reports[0];
  back.sequence = 1;
  absl::StatusOr<std::vector<ReportResult>> again = store_->ApplyReports({&back});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)[0].disposition, rollout::ReportDisposition::kAccepted);
  EXPECT_EQ(FleetCounterMismatches(db_), 0);
}

TEST_F(RetentionTest, ForgettingNeverIsANoOp) {
  absl::StatusOr<int64_t> n = store_->ForgetAgentsNotSeenSince(
      rollout::ForgetAgentsCutoff(absl::Now(), absl::ZeroDuration()), "r", 100, 10, nullptr);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 0);
}

double Metric(const CoordinatorProcess& p, const std::string& series) {
  absl::StatusOr<std::string> body = HttpGet(p.metrics_address(), "/metrics");
  return body.ok() ? MetricValue(*body, series) : -1;
}

// Real coordinators: the leader alone runs retention; SIGKILLed, the other
// replica takes rollouts and retention over.
TEST_F(RetentionTest, TheLeaderReplicaRunsRetentionAndAnotherTakesOver) {
  // An agent last seen 31 days ago, and a day of history 10 days old in a
  // partition of its own.
  rollout::AgentReport r;
  r.host_id = "long-gone";
  r.channel = "prod";
  r.current_version = "15.1.0";
  r.sequence = 1;
  ASSERT_TRUE(store_->ApplyReports({&r}).ok());
  SeenAgo(db_, "long-gone", absl::Hours(24 * 31));
  const absl::Time old_day = absl::Now() - absl::Hours(24 * 10);
  const rollout::PartitionRange old_range = rollout::PeriodOf(old_day, rollout::PartitionPeriod::kDay);
  QueryValue(db_, absl::StrCat("CREATE TABLE old_history PARTITION OF update_events FOR VALUES FROM (to_timestamp(",
                               absl::ToUnixSeconds(old_range.from), ")) TO (to_timestamp(",
                               absl::ToUnixSeconds(old_range.to), ")); SELECT 1"));
  InsertEvent("long-gone", old_day);

  const std::vector<std::string> flags = {"--insecure", "--maintenance_interval=1s", "--fleet_refresh=200ms",
                                          "--rollout_tick=100ms", "--event_retention=48h",
                                          "--forget_agents_after=24h"};
  absl::StatusOr<std::unique_ptr<CoordinatorProcess>> a = CoordinatorProcess::Start(db_, flags);
  ASSERT_TRUE(a.ok()) << a.status();
  const std::string success = "drover_retention_last_success_timestamp_seconds";
  ASSERT_TRUE(PollUntil(absl::Seconds(60), [&] { return Metric(**a, success) > 0; })) << (*a)->Log();
  EXPECT_EQ(Metric(**a, "drover_agents_forgotten_total"), 1);
  EXPECT_EQ(Metric(**a, "drover_history_partitions_dropped_total{table=\"update_events\"}"), 1);
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM agents"), "0");
  EXPECT_EQ(QueryValue(db_, "SELECT to_regclass('old_history') IS NULL"), "t");
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM update_events"), "0");
  EXPECT_EQ(FleetCounterMismatches(db_), 0);

  // A second replica: not the leader, so it runs nothing, while the first
  // goes on running retention every second.
  absl::StatusOr<std::unique_ptr<CoordinatorProcess>> b = CoordinatorProcess::Start(db_, flags);
  ASSERT_TRUE(b.ok()) << b.status();
  const double first_run = Metric(**a, success);
  ASSERT_TRUE(PollUntil(absl::Seconds(30), [&] { return Metric(**a, success) > first_run + 1.5; })) << (*a)->Log();
  EXPECT_EQ(Metric(**b, success), 0) << (*b)->Log();

  (*a)->Signal(SIGKILL);
  ASSERT_NE((*a)->WaitForExit(absl::Seconds(10)), -1);
  ASSERT_TRUE(PollUntil(absl::Seconds(60), [&] { return Metric(**b, success) > 0; })) << (*b)->Log();
  EXPECT_EQ(Metric(**b, "drover_agents_forgotten_total"), 0);
}

}  // namespace
}  // namespace drover::store
