// PgStore and the migrator against a real PostgreSQL.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <limits>
#include <map>
#include <optional>
#include <thread>

#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/subprocess.h"
#include "coordinator/rollout/report_apply.h"
#include "coordinator/rollout/staleness.h"
#include "coordinator/rollout/target_epoch.h"
#include "coordinator/store/migrator.h"
#include "coordinator/store/pg_store.h"
#include "coordinator/store/pg_pool.h"
#include "coordinator/server.h"
#include "tests/integration/store_fixture.h"
#include "tests/support/test_env.h"

namespace drover::store {
namespace {

using ::drover::testing::BinaryPath;
using ::drover::testing::FleetCounterMismatches;
using ::drover::testing::NewTestDatabase;
using ::drover::testing::QueryValue;

class PgStoreTest : public ::drover::testing::StoreWithChannelTest {
 protected:
  static rollout::AgentReport Report(const std::string& host, const std::string& channel, int64_t seq,
                                     const std::string& version = "15.1.0") {
    rollout::AgentReport r;
    r.host_id = host;
    r.channel = channel;
    r.current_version = version;
    r.sequence = seq;
    return r;
  }
};

TEST_F(PgStoreTest, UnknownChannelFailsOnlyItsOwnReport) {
  rollout::AgentReport good = Report("h1", "prod", 1), bad = Report("h2", "ghost", 1);
  absl::StatusOr<std::vector<ReportResult>> r = store_->ApplyReports({&good, &bad});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE((*r)[0].status.ok());
  EXPECT_EQ((*r)[1].status.code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains((*r)[1].status.message(), "\"ghost\""));
  EXPECT_EQ(QueryValue(db_, "SELECT string_agg(host_id, ',') FROM agents"), "h1");
}

TEST_F(PgStoreTest, ReplicasRacingOnNewHostsKeepCountersExact) {
  // Two stores stand for two replicas; both see the same hosts for the first
  // time in the same instant, so one of them must find its insert beaten.
  PgStore other(PgStoreOptions{.url = db_});
  constexpr int kHosts = 300, kRounds = 20;
  auto run = [&](PgStore* store, int parity) {
    for (int round = 0; round < kRounds; ++round) {
      std::vector<rollout::AgentReport> reports;
      for (int h = 0; h < kHosts; ++h) {
        reports.push_back(Report(absl::StrCat("r", round, "-h", h), "prod", 1 + parity,
                                 parity ? "15.2.0" : "15.1.0"));
      }
      std::vector<const rollout::AgentReport*> ptrs;
      for (const auto& r : reports) ptrs.push_back(&r);
      absl::StatusOr<std::vector<ReportResult>> results = store->ApplyReports(ptrs);
      ASSERT_TRUE(results.ok()) << results.status();
    }
  };
  std::thread a(run, store_.get(), 0), b(run, &other, 1);
  a.join();
  b.join();
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM agents"), absl::StrCat(kHosts * kRounds));
  // The higher sequence wins wherever it landed.
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM agents WHERE sequence = 2 AND current_version = '15.2.0'"),
            absl::StrCat(kHosts * kRounds));
  EXPECT_EQ(testing::FleetCounterMismatches(db_), 0);
  std::printf("transactions retried after a lost race: %lld\n",
              static_cast<long long>(store_->retries() + other.retries()));
}

std::vector<ReportResult> Apply(PgStore& store, const std::vector<rollout::AgentReport>& reports) {
  std::vector<const rollout::AgentReport*> ptrs;
  for (const auto& r : reports) ptrs.push_back(&r);
  absl::StatusOr<std::vector<ReportResult>> results = store.ApplyReports(ptrs);
  EXPECT_TRUE(results.ok()) << results.status();
  return results.ok() ? *results : std::vector<ReportResult>(reports.size());
}

rollout::UpdateOutcome Outcome(rollout::UpdateResult result) {
  rollout::UpdateOutcome o;
  o.from_version = "15.1.0";
  o.to_version = "15.2.0";
  o.result = result;
  o.error = result == rollout::UpdateResult::kSucceeded ? "" : "health check failed";
  // Just finished, as a report usually says.
  o.finish_time = absl::Now() - absl::Seconds(10);
  o.start_time = o.finish_time - absl::Minutes(3);
  return o;
}

using rollout::ReportDisposition;

TEST_F(PgStoreTest, ReportsOfOneHostInOneBatchApplyInTheirOrder) {
  std::vector<rollout::AgentReport> batch = {Report("h1", "prod", 1), Report("h1", "prod", 1),
                                             Report("h1", "prod", 3, "15.2.0"), Report("h1", "prod", 2),
                                             Report("h2", "prod", 5)};
  batch[1].outcomes.push_back(Outcome(rollout::UpdateResult::kSucceeded));  // a duplicate's: not stored
  batch[2].outcomes.push_back(Outcome(rollout::UpdateResult::kSucceeded));
  batch[3].outcomes.push_back(Outcome(rollout::UpdateResult::kFailed));  // out of order: not stored
  std::vector<ReportResult> r = Apply(*store_, batch);
  ASSERT_EQ(r.size(), 5u);
  const std::vector<ReportDisposition> want = {ReportDisposition::kAccepted, ReportDisposition::kDuplicate,
                                               ReportDisposition::kAccepted, ReportDisposition::kOutOfOrder,
                                               ReportDisposition::kAccepted};
  const std::vector<int64_t> stored = {1, 1, 3, 3, 5};
  for (size_t i = 0; i < r.size(); ++i) {
    EXPECT_TRUE(r[i].status.ok()) << i << ": " << r[i].status;
    EXPECT_EQ(r[i].disposition, want[i]) << i;
    EXPECT_EQ(r[i].stored_sequence, stored[i]) << i;
  }
  EXPECT_EQ(QueryValue(db_, "SELECT sequence || ' ' || current_version FROM agents WHERE host_id = 'h1'"),
            "3 15.2.0");
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) || ' ' || min(result) FROM update_events"), "1 1");
  EXPECT_EQ(testing::FleetCounterMismatches(db_), 0);
  absl::StatusOr<RolloutInputs> in = store_->GetRolloutInputs("prod");
  ASSERT_TRUE(in.ok()) << in.status();
  int64_t agents = 0;
  for (const auto& c : in->counts) agents += c.agents;
  EXPECT_EQ(agents, 2);
  ASSERT_EQ(in->outcomes_since_target.size(), 1u);
  EXPECT_EQ(in->outcomes_since_target[0].outcomes, 1);

  // Sent again, the whole batch changes nothing.
  r = Apply(*store_, batch);
  EXPECT_EQ(r[0].disposition, ReportDisposition::kOutOfOrder);
  EXPECT_EQ(r[2].disposition, ReportDisposition::kDuplicate);
  EXPECT_EQ(r[4].disposition, ReportDisposition::kDuplicate);
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM update_events"), "1");
  EXPECT_EQ(testing::FleetCounterMismatches(db_), 0);
}

TEST_F(PgStoreTest, CountersFollowVersionHealthAndChannelMoves) {
  rollout::Channel beta;
  beta.id = "beta";
  beta.control_plane_version = "15.2.0";
  ASSERT_TRUE(store_->CreateChannel(beta).ok());
  Apply(*store_, {Report("h1", "prod", 1), Report("h2", "prod", 1), Report("h3", "prod", 1)});
  rollout::AgentReport sick = Report("h2", "prod", 2);
  sick.health = rollout::Health::kUnhealthy;
  rollout::AgentReport moved = Report("h3", "beta", 2, "15.2.0");
  moved.outcomes.push_back(Outcome(rollout::UpdateResult::kRolledBack));
  Apply(*store_, {Report("h1", "prod", 2, "15.2.0"), sick, moved});
  EXPECT_EQ(testing::FleetCounterMismatches(db_), 0);
  EXPECT_EQ(QueryValue(db_, "SELECT string_agg(channel || ':' || version || ':' || health || '=' || n, ' ' "
                            "ORDER BY channel, version, health) FROM (SELECT channel, version, health, "
                            "sum(agents) AS n FROM fleet_counts GROUP BY 1, 2, 3 HAVING sum(agents) <> 0) x"),
            "beta:15.2.0:1=1 prod:15.1.0:2=1 prod:15.2.0:1=1");
  // The outcome counts under the channel the report came from, at its epoch.
  EXPECT_EQ(QueryValue(db_, "SELECT channel || ':' || target_epoch || ':' || result || '=' || sum(outcomes) "
                            "FROM outcome_counts GROUP BY channel, target_epoch, result"),
            "beta:0:3=1");
}

TEST_F(PgStoreTest, OutcomesCountTowardsTheTargetTheyReachedFor) {
  // Target 15.2.0: a failed update to it counts since the target was set.
  rollout::AgentReport first = Report("h1", "prod", 1);
  first.outcomes.push_back(Outcome(rollout::UpdateResult::kFailed));
  Apply(*store_, {first});
  absl::StatusOr<RolloutInputs> in = store_->GetRolloutInputs("prod");
  ASSERT_TRUE(in.ok()) << in.status();
  ASSERT_EQ(in->outcomes_since_target.size(), 1u);
  EXPECT_EQ(in->outcomes_since_target[0].result, rollout::UpdateResult::kFailed);

  // Rolled back to 15.1.0.
  ASSERT_TRUE(store_
                  ->UpdateChannel("prod",
                                  [](rollout::Channel& c, std::vector<rollout::ChannelChange>& changes) {
                                    c.target_version = "15.1.0";
                                    c.target_allows_downgrade = true;
                                    changes.push_back({.field = "target_version", .starts_target_epoch = true});
                                    return absl::OkStatus();
                                  })
                  .ok());
  // A late failure of the old target must not count against the new one;
  // an update reaching the new target does.
  rollout::AgentReport late = Report("h2", "prod", 1);
  late.outcomes.push_back(Outcome(rollout::UpdateResult::kFailed));
  rollout::AgentReport back = Report("h1", "prod", 2);
  rollout::UpdateOutcome down = Outcome(rollout::UpdateResult::kSucceeded);
  down.from_version = "15.2.0";
  down.to_version = "15.1.0";
  back.outcomes = {down, down};
  Apply(*store_, {late, back});
  in = store_->GetRolloutInputs("prod");
  ASSERT_TRUE(in.ok()) << in.status();
  ASSERT_EQ(in->outcomes_since_target.size(), 1u);
  EXPECT_EQ(in->outcomes_since_target[0].result, rollout::UpdateResult::kSucceeded);
  EXPECT_EQ(in->outcomes_since_target[0].outcomes, 2);
  // History keeps every outcome.
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM update_events"), "4");

  // Forward to 15.2.0 again. What counts against it is what reached for it
  // after it was set, by an agent clock that may run a few minutes slow.
  ASSERT_TRUE(store_
                  ->UpdateChannel("prod",
                                  [](rollout::Channel& c, std::vector<rollout::ChannelChange>& changes) {
                                    c.target_version = "15.2.0";
                                    changes.push_back({.field = "target_version", .starts_target_epoch = true});
                                    return absl::OkStatus();
                                  })
                  .ok());
  // An update to the previous target, finished after the target moved: the
  // agent had not polled yet. It must not count against 15.2.0.
  rollout::AgentReport on_its_way = Report("h3", "prod", 1);
  rollout::UpdateOutcome to_previous = Outcome(rollout::UpdateResult::kFailed);
  to_previous.from_version = "15.0.0";
  to_previous.to_version = "15.1.0";
  to_previous.finish_time = absl::Now() + absl::Seconds(30);
  on_its_way.outcomes = {to_previous};
  // A failure to reach 15.2.0 by a clock two minutes slow: it counts.
  rollout::AgentReport slow_clock = Report("h4", "prod", 1);
  rollout::UpdateOutcome slow = Outcome(rollout::UpdateResult::kFailed);
  slow.finish_time = absl::Now() - absl::Minutes(2);
  slow.start_time = slow.finish_time - absl::Minutes(1);
  slow_clock.outcomes = {slow};
  // A failure to reach 15.2.0 an hour ago, when it was the target before:
  // reported late, it must not count against this epoch.
  rollout::AgentReport long_offline = Report("h5", "prod", 1);
  rollout::UpdateOutcome old_attempt = Outcome(rollout::UpdateResult::kRolledBack);
  old_attempt.finish_time = absl::Now() - absl::Hours(1);
  old_attempt.start_time = old_attempt.finish_time - absl::Minutes(3);
  long_offline.outcomes = {old_attempt};
  Apply(*store_, {on_its_way, slow_clock, long_offline});
  in = store_->GetRolloutInputs("prod");
  ASSERT_TRUE(in.ok()) << in.status();
  ASSERT_EQ(in->outcomes_since_target.size(), 1u);
  EXPECT_EQ(in->outcomes_since_target[0].result, rollout::UpdateResult::kFailed);
  EXPECT_EQ(in->outcomes_since_target[0].outcomes, 1);
  // The other two count towards the epoch before.
  EXPECT_EQ(QueryValue(db_, "SELECT string_agg(result || '=' || n, ' ' ORDER BY result) FROM ("
                            "SELECT result, sum(outcomes) AS n FROM outcome_counts o JOIN channels c "
                            "ON c.name = o.channel WHERE o.target_epoch = c.target_epoch - 1 GROUP BY 1) x"),
            "1=2 2=1 3=1");
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM update_events"), "7");
}

TEST_F(PgStoreTest, ReplicasRacingOnTheSameHostsKeepTheHighestSequenceAndExactCounters) {
  // Two replicas get reports of the same hosts at once, with interleaved
  // sequences: each report is accepted, or found a duplicate or out of order,
  // and whatever the interleaving the highest sequence wins.
  PgStore other(PgStoreOptions{.url = db_});
  constexpr int kHosts = 200, kRounds = 15;
  std::vector<rollout::AgentReport> seed;
  for (int h = 0; h < kHosts; ++h) seed.push_back(Report(absl::StrCat("h", h), "prod", 1));
  Apply(*store_, seed);
  std::atomic<int64_t> accepted{0};
  auto run = [&](PgStore* store, int parity) {
    for (int round = 0; round < kRounds; ++round) {
      std::vector<rollout::AgentReport> reports;
      for (int h = 0; h < kHosts; ++h) {
        reports.push_back(Report(absl::StrCat("h", h), "prod", 2 + 2 * round + parity,
                                 (round + parity) % 2 ? "15.2.0" : "15.1.0"));
      }
      for (const ReportResult& r : Apply(*store, reports)) {
        EXPECT_TRUE(r.status.ok()) << r.status;
        if (r.disposition == ReportDisposition::kAccepted) ++accepted;
      }
    }
  };
  std::thread a(run, store_.get(), 0), b(run, &other, 1);
  a.join();
  b.join();
  EXPECT_EQ(QueryValue(db_, absl::StrCat("SELECT count(*) FROM agents WHERE sequence = ", 2 * kRounds + 1)),
            absl::StrCat(kHosts));
  EXPECT_GE(accepted.load(), kHosts * kRounds);  // at least one replica's report of each round landed
  EXPECT_EQ(testing::FleetCounterMismatches(db_), 0);
}

TEST_F(PgStoreTest, CompactionFoldsShardsAndDropsEmptyRows) {
  PgStore other(PgStoreOptions{.url = db_});
  Apply(*store_, {Report("h1", "prod", 1), Report("h2", "prod", 1)});
  Apply(other, {Report("h1", "prod", 2, "15.2.0"), Report("h3", "prod", 1)});
  // An old bucket whose shards cancel out, as agents leaving it leave it.
  QueryValue(db_, "INSERT INTO seen_counts (channel, bucket, shard, agents) VALUES "
                  "('prod', '2026-01-01 00:00:00+00', 3, 2), ('prod', '2026-01-01 00:00:00+00', 7, -2) "
                  "RETURNING 1");
  ASSERT_TRUE(store_->CompactCounters().ok());
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM fleet_counts WHERE shard <> 0 OR agents = 0"), "0");
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM seen_counts WHERE bucket < '2026-02-01'"), "0");
  EXPECT_EQ(testing::FleetCounterMismatches(db_), 0);
  // Ingest goes on into its shards after compaction.
  Apply(*store_, {Report("h2", "prod", 2, "15.2.0")});
  EXPECT_EQ(testing::FleetCounterMismatches(db_), 0);
}

// Compaction folds every counter table while batches write them. Each
// table is folded in its own transaction, so it never holds one table's
// rows while it waits for another's: a batch takes them in its own order
// (one such deadlock was seen at 1,000,000 hosts).
TEST_F(PgStoreTest, CompactionRacingIngestNeitherDeadlocksNorMiscounts) {
  PgStore other(PgStoreOptions{.url = db_});
  std::atomic<bool> done{false};
  std::atomic<int> compactions{0}, failures{0};
  std::thread compactor([&] {
    while (!done) {
      if (absl::Status s = store_->CompactCounters(); !s.ok()) {
        ++failures;
        ADD_FAILURE() << s;
      }
      ++compactions;
    }
  });
  auto writer = [&](PgStore& store, const std::string& prefix) {
    for (int round = 1; round <= 40; ++round) {
      std::vector<rollout::AgentReport> batch;
      for (int h = 0; h < 20; ++h) {
        rollout::AgentReport r = Report(absl::StrCat(prefix, h), "prod", round, round % 2 ? "15.2.0" : "15.1.0");
        r.schedule_state = round % 3 ? rollout::ScheduleState::kOk : rollout::ScheduleState::kMissing;
        if (h % 4 == 0) r.outcomes.push_back(Outcome(rollout::UpdateResult::kSucceeded));
        batch.push_back(std::move(r));
      }
      Apply(store, batch);
    }
  };
  std::thread a([&] { writer(*store_, "a"); });
  std::thread b([&] { writer(other, "b"); });
  a.join();
  b.join();
  done = true;
  compactor.join();
  EXPECT_EQ(failures, 0);
  EXPECT_GT(compactions, 0);
  // No transaction had to be run again: none was chosen as a deadlock's
  // victim (before the fix, each deadlock also stalled a batch for
  // PostgreSQL's deadlock_timeout, 1 s).
  EXPECT_EQ(store_->retries() + other.retries(), 0);
  EXPECT_EQ(testing::FleetCounterMismatches(db_), 0);
  // What was left in writers' shards is folded by the next compaction.
  ASSERT_TRUE(store_->CompactCounters().ok());
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM fleet_counts WHERE shard <> 0"), "0");
  EXPECT_EQ(testing::FleetCounterMismatches(db_), 0);
}

TEST_F(PgStoreTest, AStaleConnectionIsReplacedAndTheBatchWrittenWhole) {
  Apply(*store_, {Report("h1", "prod", 1)});
  // The database drops every connection (a restart, a failover): the store's
  // idle ingest connection is dead, and the next batch must go through a new
  // one with all of its data.
  QueryValue(db_, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                  "WHERE datname = current_database() AND pid <> pg_backend_pid()");
  rollout::AgentReport second = Report("h1", "prod", 2, "15.2.0");
  second.outcomes.push_back(Outcome(rollout::UpdateResult::kSucceeded));
  std::vector<ReportResult> r = Apply(*store_, {second, Report("h2", "prod", 1)});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_TRUE(r[0].status.ok()) << r[0].status;
  EXPECT_EQ(r[0].disposition, ReportDisposition::kAccepted);
  EXPECT_EQ(r[1].disposition, ReportDisposition::kAccepted);
  EXPECT_EQ(QueryValue(db_, "SELECT string_agg(host_id || ':' || sequence || ':' || current_version, ' ' "
                            "ORDER BY host_id) FROM agents"),
            "h1:2:15.2.0 h2:1:15.1.0");
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM update_events"), "1");
  EXPECT_EQ(testing::FleetCounterMismatches(db_), 0);
}

TEST_F(PgStoreTest, TextGoesThroughArrayLiteralsUnchanged) {
  // Free text (updater versions, outcome errors) with every character that
  // means something inside a PostgreSQL array literal.
  const std::string tricky = R"(NULL {a,b} "quoted" back\slash, trailing\)";
  rollout::AgentReport r = Report("h1", "prod", 1);
  r.updater_version = tricky;
  rollout::UpdateOutcome o = Outcome(rollout::UpdateResult::kFailed);
  o.error = tricky;
  r.outcomes.push_back(o);
  rollout::AgentReport empty = Report("h2", "prod", 1);
  empty.updater_version = "";
  Apply(*store_, {r, empty});
  EXPECT_EQ(QueryValue(db_, "SELECT updater_version FROM agents WHERE host_id = 'h1'"), tricky);
  EXPECT_EQ(QueryValue(db_, "SELECT error FROM update_events WHERE host_id = 'h1'"), tricky);
  EXPECT_EQ(QueryValue(db_, "SELECT updater_version IS NOT NULL AND updater_version = '' FROM agents "
                            "WHERE host_id = 'h2'"),
            "t");
}

TEST_F(PgStoreTest, UnreachableDatabaseIsUnavailable) {
  PgStore down(PgStoreOptions{.url = absl::StrCat("postgresql://drover@127.0.0.1:", testing::FreePort(), "/x")});
  rollout::AgentReport r = Report("h1", "prod", 1);
  absl::StatusOr<std::vector<ReportResult>> result = down.ApplyReports({&r});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable) << result.status();
  EXPECT_EQ(down.GetChannel("prod").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(down.Ping().code(), absl::StatusCode::kUnavailable);
}

// A database cut off without a reset must not hang a query for hours: pool
// connections carry keepalives and a TCP user timeout unless the operator's
// URL sets its own.
TEST_F(PgStoreTest, PoolConnectionsCarryNetworkTimeLimits) {
  struct Options {
    int keepalive = -1, idle = -1, interval = -1, count = -1;
    unsigned user_timeout_ms = 0;
  };
  auto options_of = [](const std::string& url) {
    Options o;
    PgPool pool(url, 1, [&o](pqxx::connection& c) {
      const int fd = c.sock();
      socklen_t len = sizeof(int);
      getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &o.keepalive, &len);
      getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &o.idle, &len);
      getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &o.interval, &len);
      getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &o.count, &len);
      len = sizeof(unsigned);
      getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &o.user_timeout_ms, &len);
    });
    absl::StatusOr<PgPool::Lease> lease = pool.Acquire();
    EXPECT_TRUE(lease.ok()) << lease.status();
    return o;
  };
  ASSERT_TRUE(absl::StartsWith(db_, "postgresql://")) << "the test database is reached over TCP: " << db_;
  Options d = options_of(db_);
  EXPECT_EQ(d.keepalive, 1);
  EXPECT_EQ(d.idle, 10);
  EXPECT_EQ(d.interval, 5);
  EXPECT_EQ(d.count, 3);
  EXPECT_EQ(d.user_timeout_ms, 30000u);
  Options own = options_of(db_ + (absl::StrContains(db_, "?") ? "&" : "?") + "keepalives_idle=42&tcp_user_timeout=7000");
  EXPECT_EQ(own.idle, 42);
  EXPECT_EQ(own.user_timeout_ms, 7000u);
  EXPECT_EQ(own.count, 3);
}

TEST_F(PgStoreTest, ChannelMutationRefusalWritesNothing) {
  absl::StatusOr<rollout::Channel> r = store_->UpdateChannel(
      "prod", [](rollout::Channel& c, std::vector<rollout::ChannelChange>& changes) {
        c.target_version = "1.0.0";
        changes.push_back({.field = "target_version", .starts_target_epoch = true});
        return absl::FailedPreconditionError("no");
      });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(QueryValue(db_, "SELECT target_version || ' ' || target_epoch || ' ' || generation FROM channels"),
            "15.2.0 1 1");
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM channel_changes WHERE field = 'target_version'"), "0");
  EXPECT_EQ(store_->UpdateChannel("ghost", [](auto&, auto&) { return absl::OkStatus(); }).status().code(),
            absl::StatusCode::kNotFound);
}

rollout::AgentReport FromInstance(rollout::AgentReport r, const std::string& instance) {
  r.instance_id = instance;
  return r;
}

TEST_F(PgStoreTest, AHostIdReportedByTwoInstancesInTurnIsAConflict) {
  // Issue 12: two updaters with one host id flipped its state silently.
  Apply(*store_, {FromInstance(Report("clone", "prod", 1), "aaaa"), FromInstance(Report("reinstalled", "prod", 1), "aaaa"),
                  Report("legacy", "prod", 1)});
  // A reinstall changes the instance once: not a conflict.
  Apply(*store_, {FromInstance(Report("clone", "prod", 2), "bbbb"), FromInstance(Report("reinstalled", "prod", 2), "cccc"),
                  Report("legacy", "prod", 2)});
  absl::StatusOr<AgentView> a = store_->GetAgent("clone");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_FALSE(a->instance_conflict);
  EXPECT_EQ(a->state.instance_id, "bbbb");
  // The first instance reports again: two live updaters share the id.
  Apply(*store_, {FromInstance(Report("clone", "prod", 3), "aaaa"), FromInstance(Report("reinstalled", "prod", 3), "cccc")});
  a = store_->GetAgent("clone");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->instance_conflict);
  EXPECT_EQ(a->state.instance_id, "aaaa");
  for (const char* host : {"reinstalled", "legacy"}) {
    absl::StatusOr<AgentView> other = store_->GetAgent(host);
    ASSERT_TRUE(other.ok()) << other.status();
    EXPECT_FALSE(other->instance_conflict) << host;
  }
  AgentFilter conflicts;
  conflicts.instance_conflict_only = true;
  absl::StatusOr<std::vector<AgentView>> listed = store_->ListAgents(conflicts, "", 10);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].state.host_id, "clone");
  absl::StatusOr<RolloutInputs> in = store_->GetRolloutInputs("prod");
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_EQ(in->instance_conflicts, 1);
  // The flag ends 3 poll intervals after the last flip.
  QueryValue(db_, "UPDATE agents SET instance_conflict_at = now() - interval '181 seconds' RETURNING 1");
  a = store_->GetAgent("clone");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_FALSE(a->instance_conflict);
}

// The ingest statement mirrors rollout::OutcomeTargetEpoch in SQL (it must
// decide with the channel rows it locks); the two must agree, at the edges of
// the clock allowance too.
TEST_F(PgStoreTest, IngestCountsOutcomesAgainstTheEpochTheDomainRuleGives) {
  ASSERT_TRUE(store_
                  ->UpdateChannel("prod",
                                  [](rollout::Channel& c, std::vector<rollout::ChannelChange>& changes) {
                                    c.target_version = "15.1.0";
                                    changes.push_back({.field = "target_version", .starts_target_epoch = true});
                                    return absl::OkStatus();
                                  })
                  .ok());
  rollout::Channel dev;
  dev.id = "dev";
  dev.control_plane_version = "15.2.0";
  ASSERT_TRUE(store_->CreateChannel(dev).ok());
  absl::StatusOr<rollout::Channel> prod = store_->GetChannel("prod");
  ASSERT_TRUE(prod.ok()) << prod.status();
  ASSERT_EQ(prod->target_epoch, 2);
  ASSERT_TRUE(prod->target_updated_at.has_value());
  const absl::Time set = *prod->target_updated_at;
  struct Case {
    std::string channel, to_version;
    absl::Time finished;
  };
  const std::vector<Case> cases = {
      {"prod", "15.1.0", set},
      {"prod", "15.1.0", set - rollout::kOutcomeClockAllowance},
      {"prod", "15.1.0", set - rollout::kOutcomeClockAllowance - absl::Microseconds(1)},
      {"prod", "15.1.0", set + absl::Hours(1)},
      {"prod", "15.2.0", set + absl::Minutes(1)},
      {"prod", "15.0.0", set - absl::Hours(2)},
      {"dev", "15.1.0", set - absl::Hours(2)},
  };
  std::map<std::pair<std::string, int64_t>, int> expected;
  std::vector<rollout::AgentReport> reports;
  for (size_t i = 0; i < cases.size(); ++i) {
    rollout::AgentReport r = Report(absl::StrCat("h", i), cases[i].channel, 1);
    rollout::UpdateOutcome o = Outcome(rollout::UpdateResult::kSucceeded);
    o.to_version = cases[i].to_version;
    o.finish_time = cases[i].finished;
    o.start_time = o.finish_time - absl::Minutes(1);
    r.outcomes = {o};
    absl::StatusOr<rollout::Channel> ch = store_->GetChannel(cases[i].channel);
    ASSERT_TRUE(ch.ok()) << ch.status();
    ++expected[{cases[i].channel, rollout::OutcomeTargetEpoch(*ch, o)}];
    reports.push_back(std::move(r));
  }
  EXPECT_EQ(expected.size(), 3u) << "the cases reach both epochs of prod and epoch 0 of dev";
  Apply(*store_, reports);
  std::string want;
  for (const auto& [key, n] : expected) {
    if (!want.empty()) want += ";";
    absl::StrAppend(&want, key.first, ":", key.second, "=", n);
  }
  EXPECT_EQ(QueryValue(db_, "SELECT string_agg(channel || ':' || target_epoch || '=' || n, ';' "
                            "ORDER BY channel, target_epoch) FROM (SELECT channel, target_epoch, sum(outcomes) AS n "
                            "FROM outcome_counts GROUP BY 1, 2) AS t"),
            want);
}

// Agent views evaluate staleness in SQL with the domain's constants as
// parameters; they must agree with rollout::IsStale on both sides of the
// cutoff.
TEST_F(PgStoreTest, AgentStalenessIsTheDomainRule) {
  Apply(*store_, {Report("before", "prod", 1), Report("at", "prod", 1)});
  const absl::Duration poll = rollout::kDefaultPollInterval;
  auto db_now = [&] {
    return absl::FromUnixMicros(std::stoll(QueryValue(db_, "SELECT (extract(epoch FROM now()) * 1000000)::bigint")));
  };
  auto set_last_seen = [&](const std::string& host, absl::Time t) {
    QueryValue(db_, absl::StrCat("UPDATE agents SET last_seen = 'epoch'::timestamptz + ", absl::ToUnixMicros(t),
                                 " * interval '1 microsecond' WHERE host_id = '", host, "' RETURNING 1"));
  };
  // The cutoff moves every kSeenBucket: try again if it moved while reading.
  for (int attempt = 0;; ++attempt) {
    ASSERT_LT(attempt, 5);
    const absl::Time now = db_now();
    const absl::Time cutoff = rollout::StaleCutoff(poll, now);
    set_last_seen("before", cutoff - absl::Microseconds(1));
    set_last_seen("at", cutoff);
    absl::StatusOr<AgentView> before = store_->GetAgent("before");
    absl::StatusOr<AgentView> at = store_->GetAgent("at");
    ASSERT_TRUE(before.ok() && at.ok());
    if (rollout::StaleCutoff(poll, db_now()) != cutoff) continue;
    EXPECT_EQ(before->stale, rollout::IsStale(before->state.last_seen, poll, now));
    EXPECT_TRUE(before->stale);
    EXPECT_EQ(at->stale, rollout::IsStale(at->state.last_seen, poll, now));
    EXPECT_FALSE(at->stale);
    break;
  }
}

// The ingest statement mirrors rollout::ApplyInstance in SQL; the stored ids
// and the conflict flag must follow the domain rule, report by report.
TEST_F(PgStoreTest, IngestKeepsInstancesAsTheDomainRuleSays) {
  const std::vector<std::vector<std::string>> sequences = {
      {"a", "b", "a"}, {"a", "", "a"}, {"", "a", "b", "b", "a"}, {"a", "b", "c", "b"}, {"a", "a", "b", "b", "a"},
      {"a", "b", "c", "a"}};
  for (size_t s = 0; s < sequences.size(); ++s) {
    const std::string host = absl::StrCat("seq", s);
    rollout::InstanceUpdate expected;
    bool ever_conflict = false;
    for (size_t k = 0; k < sequences[s].size(); ++k) {
      const std::string& reported = sequences[s][k];
      expected = rollout::ApplyInstance(expected.instance_id, expected.previous_instance_id, reported);
      ever_conflict = ever_conflict || expected.conflict;
      Apply(*store_, {FromInstance(Report(host, "prod", static_cast<int64_t>(k) + 1), reported)});
      EXPECT_EQ(QueryValue(db_, absl::StrCat("SELECT instance_id || '/' || previous_instance_id || '/' || "
                                             "CASE WHEN instance_conflict_at IS NULL THEN 'false' ELSE 'true' END FROM agents WHERE host_id = '",
                                             host, "'")),
                absl::StrCat(expected.instance_id, "/", expected.previous_instance_id, "/",
                             ever_conflict ? "true" : "false"))
          << host << " after report " << k + 1;
    }
  }
}

// The ingest statement mirrors rollout::MaxAcceptedSequence in SQL: for each
// (stored, reported) pair the store applies a report exactly when the domain
// rule allows it, and classifies a refusal as the domain does. The clock is
// the store's (a FakeClock), the same one the statement is given.
TEST_F(PgStoreTest, IngestBoundsSequencesAsTheDomainRuleSays) {
  const absl::Time now = absl::FromUnixSeconds(1796515200);
  FakeClock clock(now);
  PgStore store(PgStoreOptions{.url = db_, .clock = &clock});
  const int64_t now_us = absl::ToUnixMicros(now);
  const int64_t lead = absl::ToInt64Microseconds(rollout::kMaxSequenceLead);
  const int64_t max = std::numeric_limits<int64_t>::max();
  struct Case {
    std::optional<int64_t> stored;
    int64_t reported;
  };
  const std::vector<Case> cases = {
      {std::nullopt, 1},           {std::nullopt, now_us + lead},  {std::nullopt, now_us + lead + 1},
      {std::nullopt, max},         {5, 6},                         {5, now_us + lead},
      {5, now_us + lead + 1},      {5, max},                       {now_us * 3, now_us * 3 + lead},
      {now_us * 3, now_us * 3 + lead + 1}, {max - 10, max},        {max, max},
      {max, 7},                    {max - lead, max},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    const std::string host = absl::StrCat("seqbound", i);
    if (c.stored) {
      // Stored directly: the rule would refuse some of these today.
      QueryValue(db_, absl::StrCat("INSERT INTO agents (host_id, channel, group_name, current_version, health, "
                                   "updater_version, sequence, first_seen, last_seen) VALUES ('", host,
                                   "', 'prod', '', '15.1.0', 1, '', ", *c.stored, ", now(), now()) RETURNING 1"));
    }
    const std::vector<ReportResult> r = Apply(store, {Report(host, "prod", c.reported)});
    ASSERT_TRUE(r[0].status.ok()) << r[0].status;
    const bool allowed = c.reported <= rollout::MaxAcceptedSequence(c.stored, now);
    const std::string stored_now = QueryValue(db_, absl::StrCat("SELECT coalesce(max(sequence)::text, 'none') "
                                                                "FROM agents WHERE host_id = '", host, "'"));
    const std::string label = absl::StrCat("case ", i, ": stored ", c.stored ? absl::StrCat(*c.stored) : "none",
                                           ", reported ", c.reported);
    if (allowed && (!c.stored || c.reported > *c.stored)) {
      EXPECT_EQ(r[0].disposition, rollout::ReportDisposition::kAccepted) << label;
      EXPECT_EQ(stored_now, absl::StrCat(c.reported)) << label;
    } else {
      const rollout::NotApplied expected = rollout::ClassifyNotApplied(true, c.reported, c.stored, now);
      ASSERT_NE(expected, rollout::NotApplied::kRetry) << label;
      EXPECT_EQ(r[0].disposition, expected == rollout::NotApplied::kSequenceTooFarAhead
                                      ? rollout::ReportDisposition::kSequenceTooFarAhead
                                      : expected == rollout::NotApplied::kDuplicate
                                            ? rollout::ReportDisposition::kDuplicate
                                            : rollout::ReportDisposition::kOutOfOrder)
          << label;
      EXPECT_EQ(r[0].stored_sequence, c.stored.value_or(0)) << label;
      EXPECT_EQ(stored_now, c.stored ? absl::StrCat(*c.stored) : "none") << label;
    }
  }
  // Sanity: the forged INT64_MAX was among the refused.
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM agents WHERE host_id = 'seqbound3'"), "0");
}

// Forgetting a host takes what it added out of every counter.
TEST_F(PgStoreTest, ForgetAgentKeepsTheCountersExact) {
  rollout::AgentReport a = Report("f1", "prod", 1), b = Report("f2", "prod", 1, "15.2.0");
  a.schedule_state = rollout::ScheduleState::kOk;
  Apply(*store_, {a, b});
  absl::StatusOr<ForgottenAgent> gone = store_->ForgetAgent("f1", nullptr);
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_EQ(gone->channel, "prod");
  EXPECT_EQ(gone->sequence, 1);
  EXPECT_EQ(FleetCounterMismatches(db_), 0);
  EXPECT_EQ(store_->ForgetAgent("f1", nullptr).status().code(), absl::StatusCode::kNotFound);
  // Its next report is a first one again, and counted once.
  EXPECT_EQ(Apply(*store_, {Report("f1", "prod", 1)})[0].disposition, rollout::ReportDisposition::kAccepted);
  EXPECT_EQ(FleetCounterMismatches(db_), 0);
  ASSERT_TRUE(store_->CompactCounters().ok());
  EXPECT_EQ(FleetCounterMismatches(db_), 0);
}

TEST_F(PgStoreTest, ScheduleStatesAreStoredAndCountedPerChannel) {
  auto with = [](rollout::AgentReport r, rollout::ScheduleState s) {
    r.schedule_state = s;
    return r;
  };
  Apply(*store_, {with(Report("h1", "prod", 1), rollout::ScheduleState::kOk),
                  with(Report("h2", "prod", 1), rollout::ScheduleState::kMissing),
                  with(Report("h3", "prod", 1), rollout::ScheduleState::kMissing)});
  Apply(*store_, {with(Report("h2", "prod", 2), rollout::ScheduleState::kOk),
                  with(Report("h3", "prod", 2), rollout::ScheduleState::kMissing)});
  EXPECT_EQ(testing::FleetCounterMismatches(db_), 0);
  absl::StatusOr<RolloutInputs> in = store_->GetRolloutInputs("prod");
  ASSERT_TRUE(in.ok()) << in.status();
  ASSERT_EQ(in->schedule_states.size(), 2u);
  EXPECT_EQ(in->schedule_states[0].state, rollout::ScheduleState::kOk);
  EXPECT_EQ(in->schedule_states[0].agents, 2);
  EXPECT_EQ(in->schedule_states[1].state, rollout::ScheduleState::kMissing);
  EXPECT_EQ(in->schedule_states[1].agents, 1);
  absl::StatusOr<AgentView> a = store_->GetAgent("h3");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->state.schedule_state, rollout::ScheduleState::kMissing);
  ASSERT_TRUE(store_->CompactCounters().ok());
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM schedule_counts WHERE shard <> 0 OR agents = 0"), "0");
  EXPECT_EQ(testing::FleetCounterMismatches(db_), 0);
}

TEST_F(PgStoreTest, TheLastUpdateAttemptIsKeptAndFiltersTheList) {
  rollout::AgentReport rolled = Report("rolled", "prod", 1);
  rolled.outcomes.push_back(Outcome(rollout::UpdateResult::kFailed));
  rolled.outcomes.push_back(Outcome(rollout::UpdateResult::kRolledBack));
  rolled.outcomes[1].finish_time += absl::Seconds(1);
  rollout::AgentReport ok = Report("ok", "prod", 1, "15.2.0");
  ok.outcomes.push_back(Outcome(rollout::UpdateResult::kSucceeded));
  ok.group = "canary";
  Apply(*store_, {rolled, ok, Report("quiet", "prod", 1)});
  // A later report without outcomes keeps the last attempt.
  Apply(*store_, {Report("rolled", "prod", 2)});
  absl::StatusOr<AgentView> a = store_->GetAgent("rolled");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(a->state.last_result.has_value());
  EXPECT_EQ(*a->state.last_result, rollout::UpdateResult::kRolledBack);
  EXPECT_EQ(a->state.last_result_version, "15.2.0");
  a = store_->GetAgent("quiet");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_FALSE(a->state.last_result.has_value());

  AgentFilter f;
  f.last_result = rollout::UpdateResult::kRolledBack;
  absl::StatusOr<std::vector<AgentView>> listed = store_->ListAgents(f, "", 10);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].state.host_id, "rolled");
  AgentFilter g;
  g.group = "canary";
  listed = store_->ListAgents(g, "", 10);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].state.host_id, "ok");
}

TEST_F(PgStoreTest, UpdatingToIsStoredUntilAReportWithoutIt) {
  auto updating = [](rollout::AgentReport r, const std::string& to) {
    r.updating_to = to;
    return r;
  };
  auto stored = [&](const std::string& host) {
    absl::StatusOr<AgentView> a = store_->GetAgent(host);
    EXPECT_TRUE(a.ok()) << a.status();
    return a.ok() ? a->state.updating_to : "(error)";
  };
  // A first report (the insert) and a later one (the update) both store it.
  Apply(*store_, {updating(Report("new", "prod", 1), "15.2.0"), Report("known", "prod", 1)});
  EXPECT_EQ(stored("new"), "15.2.0");
  EXPECT_EQ(stored("known"), "");
  Apply(*store_, {updating(Report("known", "prod", 2), "15.2.0")});
  EXPECT_EQ(stored("known"), "15.2.0");
  // The outcome's report, without it, clears it; an older report that
  // arrives late (the announcement resent) changes nothing.
  rollout::AgentReport done = Report("known", "prod", 3, "15.2.0");
  done.outcomes.push_back(Outcome(rollout::UpdateResult::kSucceeded));
  Apply(*store_, {done});
  EXPECT_EQ(stored("known"), "");
  std::vector<ReportResult> late = Apply(*store_, {updating(Report("known", "prod", 2), "15.2.0")});
  EXPECT_EQ(late[0].disposition, rollout::ReportDisposition::kOutOfOrder);
  EXPECT_EQ(stored("known"), "");
  // Listing returns it too.
  absl::StatusOr<std::vector<AgentView>> listed = store_->ListAgents(AgentFilter(), "", 10);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].state.host_id, "known");
  EXPECT_EQ((*listed)[0].state.updating_to, "");
  EXPECT_EQ((*listed)[1].state.updating_to, "15.2.0");
  EXPECT_EQ(QueryValue(db_, "SELECT updating_to FROM agents WHERE host_id = 'new'"), "15.2.0");
  EXPECT_EQ(testing::FleetCounterMismatches(db_), 0);
}

TEST_F(PgStoreTest, HostsReportingForAChannelThatDoesNotExistAreListed) {
  Apply(*store_, {Report("lost-1", "prdo", 1), Report("lost-2", "gone", 1), Report("fine", "prod", 1)});
  AgentFilter f;
  f.orphaned_only = true;
  absl::StatusOr<std::vector<AgentView>> listed = store_->ListAgents(f, "", 10);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].state.host_id, "lost-1");
  EXPECT_EQ((*listed)[0].state.channel, "prdo");
  EXPECT_TRUE((*listed)[0].orphaned);
  EXPECT_EQ(store_->CountOrphanedHosts().value_or(-1), 2);
  f.channel = "gone";
  listed = store_->ListAgents(f, "", 10);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].state.host_id, "lost-2");
  // Paging by host id.
  f.channel.clear();
  listed = store_->ListAgents(f, "lost-1", 10);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].state.host_id, "lost-2");

  // Fixed configuration: lost-1 reports for prod and is an orphan no more;
  // the channel lost-2 names is created: neither is lost-2.
  Apply(*store_, {Report("lost-1", "prod", 2)});
  EXPECT_EQ(store_->CountOrphanedHosts().value_or(-1), 1);
  rollout::Channel gone;
  gone.id = "gone";
  gone.control_plane_version = "15.2.0";
  ASSERT_TRUE(store_->CreateChannel(gone).ok());
  EXPECT_EQ(store_->CountOrphanedHosts().value_or(-1), 0);

  // Rows older than the hour are purged with the counters.
  Apply(*store_, {Report("old", "nowhere", 1)});
  QueryValue(db_, "UPDATE orphan_hosts SET last_seen = now() - interval '2 hours' WHERE host_id = 'old' RETURNING 1");
  EXPECT_EQ(store_->CountOrphanedHosts().value_or(-1), 0);
  ASSERT_TRUE(store_->CompactCounters().ok());
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM orphan_hosts WHERE host_id = 'old'"), "0");
}

TEST(MigratorTest, ScheduleCountersAreBackfilledForExistingAgents) {
  const std::string db = NewTestDatabase();
  absl::StatusOr<std::vector<Migration>> all = ParseMigrations(EmbeddedMigrationFiles());
  ASSERT_TRUE(all.ok());
  std::vector<Migration> upto4;
  for (const Migration& m : *all) {
    if (m.version <= 4) upto4.push_back(m);
  }
  pqxx::connection conn(db);
  ASSERT_TRUE(MigrateUp(conn, upto4).ok());
  QueryValue(db,
             "WITH c AS (INSERT INTO channels (name, control_plane_version) VALUES ('prod', '15.2.0') RETURNING 1), "
             "a AS (INSERT INTO agents (host_id, channel, current_version, health, sequence, first_seen, last_seen) "
             "SELECT 'h' || i, 'prod', '15.2.0', 1, 1, now(), now() FROM generate_series(1, 3) i RETURNING 1) "
             "SELECT (SELECT count(*) FROM c) + (SELECT count(*) FROM a)");
  absl::StatusOr<MigrateResult> up = MigrateUp(conn, *all);
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(QueryValue(db, "SELECT state || '=' || agents FROM schedule_counts"), "0=3");
}

TEST(MigratorTest, DownMigrationsReverseUpMigrations) {
  const std::string db = NewTestDatabase();
  absl::StatusOr<std::vector<Migration>> migrations = ParseMigrations(EmbeddedMigrationFiles());
  ASSERT_TRUE(migrations.ok());
  pqxx::connection conn(db);
  absl::StatusOr<MigrateResult> up = MigrateUp(conn, *migrations);
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(up->applied, static_cast<int>(migrations->size()));
  {
    pqxx::work tx(conn);
    for (auto it = migrations->rbegin(); it != migrations->rend(); ++it) tx.exec(it->down);
    tx.exec("DELETE FROM schema_migrations");
    tx.commit();
  }
  EXPECT_EQ(QueryValue(db, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> "
                           "'schema_migrations'"),
            "0");
  absl::StatusOr<MigrateResult> again = MigrateUp(conn, *migrations);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->from_version, 0);
  EXPECT_EQ(again->to_version, migrations->back().version);
}

TEST(MigratorTest, LastTargetIsBackfilledFromTheCurrentChannelsHistoryOnly) {
  // A database at schema 3, with channels as the coordinator left them.
  const std::string db = NewTestDatabase();
  absl::StatusOr<std::vector<Migration>> all = ParseMigrations(EmbeddedMigrationFiles());
  ASSERT_TRUE(all.ok());
  std::vector<Migration> upto3;
  for (const Migration& m : *all) {
    if (m.version <= 3) upto3.push_back(m);
  }
  pqxx::connection conn(db);
  ASSERT_TRUE(MigrateUp(conn, upto3).ok());
  QueryValue(db,
             "WITH c AS (INSERT INTO channels (name, target_version, control_plane_version) VALUES "
             "('set', '15.2.0', '15.2.0'), ('cleared', NULL, '15.2.0'), ('reborn', NULL, '15.2.0'), "
             "('never', NULL, '15.2.0') RETURNING 1), "
             "h AS (INSERT INTO channel_changes (channel, field, old_value, new_value) VALUES "
             "('cleared', 'created', '', ''), ('cleared', 'target_version', 'none', '15.1.0'), "
             "('cleared', 'target_version', '15.1.0', 'none'), "
             // 'reborn' had a target cleared in an earlier life, then was deleted and created again.
             "('reborn', 'created', '', ''), ('reborn', 'target_version', '14.0.0', 'none'), "
             "('reborn', 'deleted', '', ''), ('reborn', 'created', '', ''), "
             "('never', 'created', '', '') RETURNING 1) "
             "SELECT (SELECT count(*) FROM c) + (SELECT count(*) FROM h)");
  absl::StatusOr<MigrateResult> up = MigrateUp(conn, *all);
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(up->from_version, 3);
  EXPECT_EQ(QueryValue(db, "SELECT string_agg(name || '=' || coalesce(last_target_version, '-'), ' ' ORDER BY name) "
                           "FROM channels"),
            "cleared=15.1.0 never=- reborn=- set=15.2.0");
  // From now on the database keeps it, whoever writes the row (a replica
  // older than the column, during a rolling upgrade, say).
  QueryValue(db, "UPDATE channels SET target_version = NULL WHERE name = 'set' RETURNING 1");
  QueryValue(db, "UPDATE channels SET target_version = '15.3.0' WHERE name = 'never' RETURNING 1");
  QueryValue(db, "INSERT INTO channels (name, target_version, control_plane_version) "
                 "VALUES ('new', '15.0.0', '15.2.0') RETURNING 1");
  EXPECT_EQ(QueryValue(db, "SELECT string_agg(name || '=' || coalesce(last_target_version, '-'), ' ' ORDER BY name) "
                           "FROM channels"),
            "cleared=15.1.0 never=15.3.0 new=15.0.0 reborn=- set=15.2.0");
}

// Issue 12 items 9 and 10 for databases written before schema 6.
TEST(MigratorTest, Schema6MovesChannelsCreatedWithATargetToTheirEpochAndKeepsRollBacks) {
  const std::string db = NewTestDatabase();
  absl::StatusOr<std::vector<Migration>> all = ParseMigrations(EmbeddedMigrationFiles());
  ASSERT_TRUE(all.ok());
  std::vector<Migration> before6;
  for (const Migration& m : *all) {
    if (m.version < 6) before6.push_back(m);
  }
  pqxx::connection conn(db);
  ASSERT_TRUE(MigrateUp(conn, before6).ok());
  QueryValue(
      db,
      "WITH c AS (INSERT INTO channels (name, target_version, target_updated_at, control_plane_version, "
      "created_at, last_target_version) VALUES "
      "('born', '15.1.0', now() - interval '1 hour', '15.2.0', now() - interval '1 hour', '15.1.0'), "
      "('plain', NULL, NULL, '15.2.0', now() - interval '1 hour', NULL), "
      "('cleared', NULL, now(), '15.2.0', now() - interval '1 hour', '15.1.0') RETURNING 1), "
      "e AS (INSERT INTO update_events (host_id, channel, from_version, to_version, result, started_at, "
      "finished_at, report_sequence) VALUES "
      "('h1', 'born', '15.0.0', '15.1.0', 1, now() - interval '20 minutes', now() - interval '19 minutes', 1), "
      "('h2', 'born', '15.0.0', '15.1.0', 2, now() - interval '20 minutes', now() - interval '19 minutes', 1), "
      "('h3', 'born', '15.0.0', '15.0.9', 2, now() - interval '20 minutes', now() - interval '19 minutes', 1), "
      "('h4', 'born', '15.0.0', '15.1.0', 2, now() - interval '3 hours', now() - interval '2 hours', 1) "
      "RETURNING 1), "
      // What the ingest counted: everything, in epoch 0.
      "o AS (INSERT INTO outcome_counts (channel, target_epoch, result, shard, outcomes) VALUES "
      "('born', 0, 1, 0, 1), ('born', 0, 2, 0, 3) RETURNING 1), "
      "h AS (INSERT INTO channel_changes (channel, field, old_value, new_value) VALUES "
      "('cleared', 'created', '', 'target=15.2.0 control_plane=15.2.0'), "
      "('cleared', 'target_version', '15.2.0', '15.1.0 (downgrade)'), "
      "('cleared', 'target_version', '15.1.0', 'none') RETURNING 1) "
      "SELECT (SELECT count(*) FROM c) + (SELECT count(*) FROM e) + (SELECT count(*) FROM o) + "
      "(SELECT count(*) FROM h)");
  absl::StatusOr<MigrateResult> up = MigrateUp(conn, *all);
  ASSERT_TRUE(up.ok()) << up.status();
  EXPECT_EQ(QueryValue(db, "SELECT string_agg(name || ':' || target_epoch || ':' || last_target_allows_downgrade, "
                           "' ' ORDER BY name) FROM channels"),
            "born:1:false cleared:0:true plain:0:false");
  // Counted again by the rule the ingest applies: h1 and h2 only.
  EXPECT_EQ(QueryValue(db, "SELECT string_agg(result || '=' || outcomes, ' ' ORDER BY result) FROM outcome_counts "
                           "WHERE channel = 'born' AND target_epoch = 1"),
            "1=1 2=1");
  // From now on the database keeps the mark with the last target, whoever
  // writes the row.
  QueryValue(db, "UPDATE channels SET target_version = '15.2.0', target_allows_downgrade = false "
                 "WHERE name = 'cleared' RETURNING 1");
  QueryValue(db, "UPDATE channels SET target_version = '15.0.0', target_allows_downgrade = true "
                 "WHERE name = 'born' RETURNING 1");
  QueryValue(db, "UPDATE channels SET target_version = NULL, target_allows_downgrade = false "
                 "WHERE name = 'born' RETURNING 1");
  EXPECT_EQ(QueryValue(db, "SELECT string_agg(name || ':' || last_target_allows_downgrade, ' ' ORDER BY name) "
                           "FROM channels"),
            "born:true cleared:false plain:false");
}

// A pooled connection the server dropped (a restart, an administrator's
// pg_terminate_backend) must not come back without the settings the pool
// gave it (durable commits, time limits). libpqxx 6 can reconnect a
// connection by itself, which would skip on_connect; the pool must see the
// break and open a fresh connection instead.
TEST(PgPoolTest, ADroppedConnectionComesBackWithItsSessionSettings) {
  const std::string db = NewTestDatabase();
  PgPool pool(db, 1, [](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    tx.exec("SET statement_timeout = 1234");
  });
  auto setting_and_pid = [&] {
    return pool.Run<std::pair<std::string, std::string>>(
        "reading", [](pqxx::connection& c) -> absl::StatusOr<std::pair<std::string, std::string>> {
          pqxx::read_transaction tx(c);
          pqxx::row r = tx.exec1("SELECT current_setting('statement_timeout'), pg_backend_pid()::text");
          return std::make_pair(r[0].as<std::string>(), r[1].as<std::string>());
        });
  };
  absl::StatusOr<std::pair<std::string, std::string>> before = setting_and_pid();
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->first, "1234ms");
  EXPECT_EQ(QueryValue(db, "SELECT pg_terminate_backend(" + before->second + ")"), "t");

  absl::StatusOr<std::pair<std::string, std::string>> after = setting_and_pid();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_NE(after->second, before->second);  // a new session
  EXPECT_EQ(after->first, "1234ms");
}

// drover-store-bench drives this store directly; its figures are only worth
// something if what it wrote is what the coordinator would have written.
CommandOutput RunStoreBench(const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {BinaryPath("drover-store-bench")};
  argv.insert(argv.end(), flags.begin(), flags.end());
  absl::StatusOr<CommandOutput> out = RunCommand(argv, {.timeout = absl::Minutes(2)});
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : CommandOutput{};
}

// The "key=value ..." summary on the last line of its output.
std::map<std::string, std::string> SummaryFields(const std::string& output) {
  std::vector<std::string> lines = absl::StrSplit(output, '\n', absl::SkipEmpty());
  std::map<std::string, std::string> fields;
  if (lines.empty()) return fields;
  for (absl::string_view kv : absl::StrSplit(lines.back(), ' ', absl::SkipEmpty())) {
    std::pair<std::string, std::string> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
    fields[p.first] = p.second;
  }
  return fields;
}

TEST(StoreBenchTest, WritesTheFleetItReportsAndKeepsTheCountersExact) {
  const std::string db = NewTestDatabase();
  CommandOutput first = RunStoreBench({"--database=" + db, "--hosts=3000", "--batch=50", "--duration=1",
                                       "--outcome_fraction=0.2"});
  ASSERT_EQ(first.exit_code, 0) << first.output;
  std::map<std::string, std::string> f = SummaryFields(first.output);
  EXPECT_EQ(f["hosts"], "3000") << first.output;
  EXPECT_EQ(f["batch"], "50");
  double rate = 0;
  ASSERT_TRUE(absl::SimpleAtod(f["reports_per_s"], &rate)) << first.output;
  EXPECT_GT(rate, 0);
  EXPECT_EQ(f["postgres_us_per_report"], "unknown");  // no --postgres_pid
  EXPECT_EQ(QueryValue(db, "SELECT count(*) FROM agents WHERE channel = 'store-bench'"), "3000");
  EXPECT_NE(QueryValue(db, "SELECT count(*) FROM update_events"), "0");
  EXPECT_EQ(FleetCounterMismatches(db), 0);

  // Again on the same database without populating: every report still
  // counts as new (sequences start from the clock), the fleet stays 3000.
  const std::string before = QueryValue(db, "SELECT max(sequence) FROM agents");
  CommandOutput again = RunStoreBench({"--database=" + db, "--hosts=3000", "--duration=1", "--populate=false"});
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(QueryValue(db, "SELECT count(*) FROM agents"), "3000");
  EXPECT_GT(std::stoll(QueryValue(db, "SELECT max(sequence) FROM agents")), std::stoll(before));
  EXPECT_EQ(FleetCounterMismatches(db), 0);
}

TEST(StoreBenchTest, BadFlagsAreRefusedByName) {
  struct Case {
    std::vector<std::string> flags;
    std::string message;
  };
  const std::string db = "--database=postgresql://127.0.0.1:1/none";
  for (const Case& c : std::vector<Case>{
           {{}, "--database=URL is required"},
           {{db, "--batch=0"}, "--batch=0 must be in 1..10000"},
           {{db, "--hosts=10", "--batch=20"}, "--batch=20 must not exceed --hosts=10"},
           {{db, "--hosts=0"}, "--hosts=0 must be in 1..9999999"},
           {{db, "--duration=0"}, "--duration=0 must be at least 1 second"},
           {{db, "--outcome_fraction=1.5"}, "--outcome_fraction=1.5 must be in 0..1"},
       }) {
    CommandOutput out = RunStoreBench(c.flags);
    EXPECT_EQ(out.exit_code, 1) << out.output;
    EXPECT_TRUE(absl::StrContains(out.output, c.message)) << "want \"" << c.message << "\" in: " << out.output;
  }
}

TEST(StoreBenchTest, UnreachableDatabaseFailsSayingSo) {
  CommandOutput out = RunStoreBench(
      {"--database=postgresql://drover@127.0.0.1:1/none", "--hosts=10", "--batch=5", "--connect_timeout=1"});
  EXPECT_EQ(out.exit_code, 1) << out.output;
  EXPECT_TRUE(absl::StrContains(out.output, "applying migrations: UNAVAILABLE")) << out.output;
}

}  // namespace
}  // namespace drover::store
