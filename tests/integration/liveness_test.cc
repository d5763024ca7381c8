// Heartbeats (rollout/heartbeat.h, ingest/liveness.h) against a real
// PostgreSQL: the bulk flush statement, and real coordinator processes
// answering heartbeats from memory, killed with SIGKILL, side by side.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "coordinator/store/migrator.h"
#include "coordinator/store/pg_store.h"
#include "coordinator/server.h"
#include "drover/v1/operator_service.grpc.pb.h"
#include "drover/v1/updater_service.grpc.pb.h"
#include "tests/integration/store_fixture.h"
#include "tests/support/test_env.h"

namespace drover {
namespace {

using ::drover::testing::CoordinatorProcess;
using ::drover::testing::FleetCounterMismatches;
using ::drover::testing::HttpGet;
using ::drover::testing::MetricValue;
using ::drover::testing::NewTestDatabase;
using ::drover::testing::PollUntil;
using ::drover::testing::QueryValue;

rollout::AgentReport Report(const std::string& host, int64_t seq, const std::string& version = "15.1.0") {
  rollout::AgentReport r;
  r.host_id = host;
  r.channel = "prod";
  r.current_version = version;
  r.sequence = seq;
  return r;
}

// last_seen of a host in Unix microseconds, "" when it has no row.
std::string LastSeenUs(const std::string& db, const std::string& host) {
  return QueryValue(db, absl::StrCat("SELECT (extract(epoch FROM last_seen) * 1000000)::bigint FROM agents "
                                     "WHERE host_id = '", host, "'"));
}

class LivenessStoreTest : public ::drover::testing::StoreWithChannelTest {};

TEST_F(LivenessStoreTest, MovesLastSeenAndSequenceUpNeverDown) {
  rollout::AgentReport a = Report("h1", 10), b = Report("h2", 10);
  ASSERT_TRUE(store_->ApplyReports({&a, &b}).ok());
  const std::string h2_before = LastSeenUs(db_, "h2");
  const absl::Time later = absl::Now() + absl::Seconds(30);
  absl::StatusOr<store::LivenessNotWritten> r = store_->WriteLiveness({
      {"h1", later, 1000},
      {"h2", absl::Now() - absl::Hours(1), 5},  // older than what is stored
      {"ghost", later, 7},
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->retry.empty());
  EXPECT_EQ(r->missing, std::vector<size_t>{2});
  EXPECT_EQ(LastSeenUs(db_, "h1"), absl::StrCat(absl::ToUnixMicros(later)));
  EXPECT_EQ(QueryValue(db_, "SELECT sequence FROM agents WHERE host_id = 'h1'"), "1000");
  EXPECT_EQ(LastSeenUs(db_, "h2"), h2_before);
  EXPECT_EQ(QueryValue(db_, "SELECT sequence FROM agents WHERE host_id = 'h2'"), "10");
  // The seen-bucket counters moved with last_seen.
  EXPECT_EQ(FleetCounterMismatches(db_), 0);
  // A newer state committed after a heartbeat keeps its sequence if higher;
  // a heartbeat above it still only moves the sequence up.
  rollout::AgentReport newer = Report("h1", 2000, "15.2.0");
  ASSERT_TRUE(store_->ApplyReports({&newer}).ok());
  ASSERT_TRUE(store_->WriteLiveness({{"h1", later + absl::Seconds(1), 1500}}).ok());
  EXPECT_EQ(QueryValue(db_, "SELECT sequence || ' ' || current_version FROM agents WHERE host_id = 'h1'"),
            "2000 15.2.0");
}

TEST_F(LivenessStoreTest, FlushesRacingWithReportsKeepCountersExact) {
  // Two stores stand for two replicas: one commits reports, the other
  // flushes heartbeats of the same hosts at the same time.
  store::PgStore other(store::PgStoreOptions{.url = db_});
  constexpr int kHosts = 200, kRounds = 15;
  std::vector<rollout::AgentReport> first;
  for (int i = 0; i < kHosts; ++i) first.push_back(Report(absl::StrCat("h", i), 1));
  std::vector<const rollout::AgentReport*> ptrs;
  for (const auto& r : first) ptrs.push_back(&r);
  ASSERT_TRUE(store_->ApplyReports(ptrs).ok());
  std::atomic<int> errors{0}, retried{0};
  std::thread reports([&] {
    for (int round = 0; round < kRounds; ++round) {
      std::vector<rollout::AgentReport> batch;
      for (int i = 0; i < kHosts; ++i) {
        batch.push_back(Report(absl::StrCat("h", i), 10 + 2 * round, round % 2 ? "15.1.0" : "15.2.0"));
      }
      std::vector<const rollout::AgentReport*> p;
      for (const auto& r : batch) p.push_back(&r);
      if (!store_->ApplyReports(p).ok()) ++errors;
    }
  });
  std::thread flushes([&] {
    for (int round = 0; round < kRounds; ++round) {
      std::vector<store::HostBeat> beats;
      // Ten seconds apart: every flush moves each host to a new seen bucket.
      const absl::Time t = absl::Now() + absl::Seconds(10 * (round + 1));
      for (int i = 0; i < kHosts; ++i) beats.push_back({absl::StrCat("h", i), t, 11 + 2 * round});
      absl::StatusOr<store::LivenessNotWritten> r = other.WriteLiveness(beats);
      if (!r.ok()) {
        ++errors;
        continue;
      }
      retried += static_cast<int>(r->retry.size());
    }
  });
  reports.join();
  flushes.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(FleetCounterMismatches(db_), 0) << retried.load() << " heartbeats were left for a later flush";
}

// --- Real coordinators ---------------------------------------------------------

class Host {
 public:
  Host(const std::string& address, std::string id)
      : id_(std::move(id)),
        stub_(v1::UpdaterService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {}

  // Sends the host's state; the predecessor is named only after an
  // acknowledged report, as the updater does.
  grpc::Status Send(const std::string& version, v1::ReportStatusResponse* out = nullptr) {
    v1::ReportStatusRequest r;
    r.set_host_id(id_);
    r.set_channel("channels/prod");
    r.set_current_version(version);
    r.set_health(v1::HEALTH_HEALTHY);
    r.set_updater_version("0.9.0");
    r.set_sequence(sequence_ = std::max(sequence_ + 1, absl::ToUnixMicros(absl::Now())));
    r.set_previous_sequence(acknowledged_);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ReportStatusResponse resp;
    grpc::Status s = stub_->ReportStatus(&ctx, r, &resp);
    acknowledged_ = s.ok() && resp.disposition() == v1::ReportStatusResponse::DISPOSITION_ACCEPTED ? sequence_ : 0;
    if (out != nullptr) *out = resp;
    return s;
  }
  // Talks to another replica: same host, same chain.
  void Reconnect(const std::string& address) {
    stub_ = v1::UpdaterService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  }
  int64_t sequence() const { return sequence_; }

 private:
  std::string id_;
  std::unique_ptr<v1::UpdaterService::Stub> stub_;
  int64_t sequence_ = 0;
  int64_t acknowledged_ = 0;
};

void CreateChannel(const std::string& address) {
  auto stub = v1::OperatorService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  v1::CreateChannelRequest req;
  req.set_channel_id("prod");
  req.set_control_plane_version("15.2.0");
  req.set_target_version("15.2.0");
  v1::Channel out;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Status s = stub->CreateChannel(&ctx, req, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
}

double Metric(const CoordinatorProcess& p, const std::string& series) {
  absl::StatusOr<std::string> body = HttpGet(p.metrics_address(), "/metrics");
  return body.ok() ? MetricValue(*body, series) : -1;
}

constexpr absl::Duration kFlush = absl::Seconds(1);
const std::string kFlushFlag = "--liveness_flush=1s";
// Hosts here report far faster than the default per-host limit allows.
const std::string kNoRateLimit = "--report_rate_per_host=0";

TEST(LivenessProcessTest, HeartbeatsAreAnsweredFromMemoryAndReachPostgresWithinAFlush) {
  const std::string db = NewTestDatabase();
  auto proc = CoordinatorProcess::Start(db, {kFlushFlag});
  ASSERT_TRUE(proc.ok()) << proc.status();
  CreateChannel((*proc)->grpc_address());
  Host h((*proc)->grpc_address(), "h1");
  ASSERT_TRUE(h.Send("15.1.0").ok());  // committed: nothing remembered yet
  const std::string committed = LastSeenUs(db, "h1");
  ASSERT_FALSE(committed.empty());
  EXPECT_EQ(Metric(**proc, "drover_reports_total{result=\"heartbeat\"}"), 0);
  v1::ReportStatusResponse resp;
  const absl::Time sent = absl::Now();
  ASSERT_TRUE(h.Send("15.1.0", &resp).ok());
  EXPECT_EQ(resp.disposition(), v1::ReportStatusResponse::DISPOSITION_ACCEPTED);
  EXPECT_EQ(resp.stored_sequence(), h.sequence());
  EXPECT_EQ(Metric(**proc, "drover_reports_total{result=\"heartbeat\"}"), 1);
  EXPECT_EQ(Metric(**proc, "drover_reports_total{result=\"accepted\"}"), 1);
  // Written by the flusher, within one interval (and the flush itself).
  const absl::Time deadline = sent + kFlush + absl::Seconds(2);
  EXPECT_TRUE(PollUntil(deadline - absl::Now(), [&] {
    return QueryValue(db, "SELECT sequence FROM agents WHERE host_id = 'h1'") == absl::StrCat(h.sequence());
  })) << "the heartbeat did not reach PostgreSQL within " << absl::FormatDuration(deadline - sent);
  EXPECT_GE(std::stoll(LastSeenUs(db, "h1")), absl::ToUnixMicros(sent) - 1000);
  EXPECT_EQ(FleetCounterMismatches(db), 0);
  // A new version is a state change: committed before the answer.
  ASSERT_TRUE(h.Send("15.2.0").ok());
  EXPECT_EQ(QueryValue(db, "SELECT current_version FROM agents WHERE host_id = 'h1'"), "15.2.0");
  EXPECT_EQ(Metric(**proc, "drover_reports_total{result=\"accepted\"}"), 2);
}

TEST(LivenessProcessTest, ASigkillLosesAtMostOneFlushOfLivenessAndNoState) {
  const std::string db = NewTestDatabase();
  auto proc = CoordinatorProcess::Start(db, {kFlushFlag, kNoRateLimit});
  ASSERT_TRUE(proc.ok()) << proc.status();
  CreateChannel((*proc)->grpc_address());
  Host a((*proc)->grpc_address(), "a"), b((*proc)->grpc_address(), "b");
  ASSERT_TRUE(a.Send("15.1.0").ok());
  ASSERT_TRUE(b.Send("15.1.0").ok());
  // Host a heartbeats for three flush intervals; host b changes its version
  // (committed) in the middle and heartbeats after it.
  const absl::Time start = absl::Now();
  absl::Time last_beat;
  bool changed = false;
  int beats = 0;
  while (absl::Now() - start < 3 * kFlush) {
    ASSERT_TRUE(a.Send("15.1.0").ok());
    last_beat = absl::Now();
    ++beats;
    if (!changed && absl::Now() - start > 1.5 * kFlush) {
      ASSERT_TRUE(b.Send("15.2.0").ok());
      changed = true;
    } else {
      ASSERT_TRUE(b.Send(changed ? "15.2.0" : "15.1.0").ok());
    }
  }
  (*proc)->Signal(SIGKILL);
  const int status = (*proc)->WaitForExit(absl::Seconds(10));
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  // Liveness lags by at most one flush interval plus the flush itself.
  const int64_t stored = std::stoll(LastSeenUs(db, "a"));
  EXPECT_GE(stored, absl::ToUnixMicros(last_beat - kFlush - absl::Milliseconds(500)))
      << "last heartbeat " << absl::FormatTime(last_beat) << " after " << beats << " of them";
  // The state change was committed before its answer.
  EXPECT_EQ(QueryValue(db, "SELECT current_version FROM agents WHERE host_id = 'b'"), "15.2.0");
  EXPECT_EQ(FleetCounterMismatches(db), 0);
  // A new process remembers nothing: the next report is committed, the one
  // after it is a heartbeat again.
  auto again = CoordinatorProcess::Start(db, {kFlushFlag});
  ASSERT_TRUE(again.ok()) << again.status();
  a.Reconnect((*again)->grpc_address());
  ASSERT_TRUE(a.Send("15.1.0").ok());
  EXPECT_EQ(QueryValue(db, "SELECT sequence FROM agents WHERE host_id = 'a'"), absl::StrCat(a.sequence()));
  ASSERT_TRUE(a.Send("15.1.0").ok());
  EXPECT_EQ(Metric(**again, "drover_reports_total{result=\"heartbeat\"}"), 1);
  EXPECT_EQ(Metric(**again, "drover_reports_total{result=\"accepted\"}"), 1);
}

TEST(LivenessProcessTest, SigtermWritesPendingHeartbeats) {
  const std::string db = NewTestDatabase();
  // A flush interval far longer than the test: only the shutdown writes.
  auto proc = CoordinatorProcess::Start(db, {"--liveness_flush=10s"});
  ASSERT_TRUE(proc.ok()) << proc.status();
  CreateChannel((*proc)->grpc_address());
  Host h((*proc)->grpc_address(), "h1");
  ASSERT_TRUE(h.Send("15.1.0").ok());
  ASSERT_TRUE(h.Send("15.1.0").ok());
  ASSERT_TRUE(h.Send("15.1.0").ok());
  EXPECT_EQ(Metric(**proc, "drover_reports_total{result=\"heartbeat\"}"), 2);
  EXPECT_NE(QueryValue(db, "SELECT sequence FROM agents WHERE host_id = 'h1'"), absl::StrCat(h.sequence()));
  (*proc)->Signal(SIGTERM);
  const int status = (*proc)->WaitForExit(absl::Seconds(30));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << (*proc)->Log();
  EXPECT_EQ(QueryValue(db, "SELECT sequence FROM agents WHERE host_id = 'h1'"), absl::StrCat(h.sequence()));
}

TEST(LivenessProcessTest, ReplicasMergeTheNewestLivenessWins) {
  const std::string db = NewTestDatabase();
  auto a = CoordinatorProcess::Start(db, {kFlushFlag});
  ASSERT_TRUE(a.ok()) << a.status();
  auto b = CoordinatorProcess::Start(db, {kFlushFlag});
  ASSERT_TRUE(b.ok()) << b.status();
  CreateChannel((*a)->grpc_address());
  Host h((*a)->grpc_address(), "h1");
  ASSERT_TRUE(h.Send("15.1.0").ok());
  ASSERT_TRUE(h.Send("15.1.0").ok());  // a heartbeat, in replica a's memory
  ASSERT_EQ(Metric(**a, "drover_reports_total{result=\"heartbeat\"}"), 1);
  const double a_flushes = Metric(**a, "drover_liveness_flush_duration_seconds_count");
  // The host moves to replica b before a flushes: b has nothing remembered
  // and commits (last_seen = now, newer than a's heartbeat).
  h.Reconnect((*b)->grpc_address());
  ASSERT_TRUE(h.Send("15.1.0").ok());
  EXPECT_EQ(Metric(**b, "drover_reports_total{result=\"accepted\"}"), 1);
  const std::string committed_by_b = LastSeenUs(db, "h1");
  // Replica a's flush comes later, with the older time: it must not win.
  ASSERT_TRUE(PollUntil(absl::Seconds(10), [&] {
    return Metric(**a, "drover_liveness_flush_duration_seconds_count") >= a_flushes + 2;
  }));
  EXPECT_EQ(LastSeenUs(db, "h1"), committed_by_b);
  EXPECT_EQ(QueryValue(db, "SELECT sequence FROM agents WHERE host_id = 'h1'"), absl::StrCat(h.sequence()));
  // Back on a, which last handled an older report: committed, not a heartbeat.
  h.Reconnect((*a)->grpc_address());
  ASSERT_TRUE(h.Send("15.1.0").ok());
  EXPECT_EQ(Metric(**a, "drover_reports_total{result=\"heartbeat\"}"), 1);
  EXPECT_EQ(Metric(**a, "drover_reports_total{result=\"accepted\"}"), 2);
  EXPECT_EQ(FleetCounterMismatches(db), 0);
}

TEST(LivenessProcessTest, AForgottenHostIsStoredAgainByItsNextReport) {
  const std::string db = NewTestDatabase();
  auto proc = CoordinatorProcess::Start(db, {kFlushFlag});
  ASSERT_TRUE(proc.ok()) << proc.status();
  CreateChannel((*proc)->grpc_address());
  Host h((*proc)->grpc_address(), "h1");
  ASSERT_TRUE(h.Send("15.1.0").ok());
  auto ops = v1::OperatorService::NewStub(grpc::CreateChannel((*proc)->grpc_address(),
                                                              grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext ctx;
    v1::ForgetAgentRequest req;
    req.set_host_id("h1");
    v1::ForgetAgentResponse resp;
    ASSERT_TRUE(ops->ForgetAgent(&ctx, req, &resp).ok());
  }
  ASSERT_EQ(LastSeenUs(db, "h1"), "");
  // Still remembered in memory: answered as a heartbeat, found missing at
  // the next flush, and the report after that is committed again.
  const double flushes = Metric(**proc, "drover_liveness_flush_duration_seconds_count");
  ASSERT_TRUE(h.Send("15.1.0").ok());
  EXPECT_EQ(Metric(**proc, "drover_reports_total{result=\"heartbeat\"}"), 1);
  ASSERT_TRUE(PollUntil(absl::Seconds(10), [&] {
    return Metric(**proc, "drover_liveness_flush_duration_seconds_count") >= flushes + 2;
  }));
  EXPECT_EQ(Metric(**proc, "drover_liveness_hosts"), 0);
  ASSERT_TRUE(h.Send("15.1.0").ok());
  EXPECT_EQ(QueryValue(db, "SELECT sequence FROM agents WHERE host_id = 'h1'"), absl::StrCat(h.sequence()));
}

}  // namespace
}  // namespace drover
