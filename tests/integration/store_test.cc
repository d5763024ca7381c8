// PgStore and the migrator against a real PostgreSQL.
#include <gtest/gtest.h>

#include <thread>

#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "coordinator/store/migrator.h"
#include "coordinator/store/pg_store.h"
#include "coordinator/server.h"
#include "tests/support/test_env.h"

namespace drover::store {
namespace {

using ::drover::testing::NewTestDatabase;
using ::drover::testing::QueryValue;

class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = NewTestDatabase();
    ASSERT_TRUE(RunMigrations(db_, absl::Seconds(10)).ok());
    store_ = std::make_unique<PgStore>(PgStoreOptions{.url = db_});
    rollout::Channel c;
    c.id = "prod";
    c.control_plane_version = "15.2.0";
    c.target_version = "15.2.0";
    ASSERT_TRUE(store_->CreateChannel(c).ok());
  }

  static rollout::AgentReport Report(const std::string& host, const std::string& channel, int64_t seq,
                                     const std::string& version = "15.1.0") {
    rollout::AgentReport r;
    r.host_id = host;
    r.channel = channel;
    r.current_version = version;
    r.sequence = seq;
    return r;
  }

  std::string db_;
  std::unique_ptr<PgStore> store_;
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

TEST_F(PgStoreTest, UnreachableDatabaseIsUnavailable) {
  PgStore down(PgStoreOptions{.url = absl::StrCat("postgresql://drover@127.0.0.1:", testing::FreePort(), "/x")});
  rollout::AgentReport r = Report("h1", "prod", 1);
  absl::StatusOr<std::vector<ReportResult>> result = down.ApplyReports({&r});
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable) << result.status();
  EXPECT_EQ(down.GetChannel("prod").status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(down.Ping().code(), absl::StatusCode::kUnavailable);
}

TEST_F(PgStoreTest, ChannelMutationRefusalWritesNothing) {
  absl::StatusOr<rollout::Channel> r = store_->UpdateChannel(
      "prod", [](rollout::Channel& c, std::vector<rollout::ChannelChange>& changes) {
        c.target_version = "1.0.0";
        changes.push_back({.field = "target_version"});
        return absl::FailedPreconditionError("no");
      });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(QueryValue(db_, "SELECT target_version || ' ' || target_epoch || ' ' || generation FROM channels"),
            "15.2.0 0 1");
  EXPECT_EQ(QueryValue(db_, "SELECT count(*) FROM channel_changes WHERE field = 'target_version'"), "0");
  EXPECT_EQ(store_->UpdateChannel("ghost", [](auto&, auto&) { return absl::OkStatus(); }).status().code(),
            absl::StatusCode::kNotFound);
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

}  // namespace
}  // namespace drover::store
