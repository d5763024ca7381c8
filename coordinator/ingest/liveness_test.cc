// LivenessTracker and its place in ReportBatcher, against a recording store
// and a fake clock. PostgreSQL behind WriteLiveness is covered by
// tests/integration/liveness_test.cc; real processes and signals by
// tests/e2e/heartbeat_e2e_test.sh.
#include "coordinator/ingest/liveness.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <set>

#include "coordinator/ingest/report_batcher.h"

namespace drover::ingest {
namespace {

using rollout::AgentReport;
using rollout::ReportDisposition;
using store::ReportResult;

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

// Records heartbeat writes; can fail them, or answer hosts as changed by
// another writer (retry) or gone (missing).
class RecordingLiveness : public store::LivenessWriter {
 public:
  absl::StatusOr<store::LivenessNotWritten> WriteLiveness(const std::vector<store::HostBeat>& beats) override {
    std::lock_guard<std::mutex> lock(mu);
    ++calls;
    if (fail) return absl::UnavailableError("database down");
    store::LivenessNotWritten out;
    for (size_t i = 0; i < beats.size(); ++i) {
      if (retry.contains(beats[i].host_id)) {
        out.retry.push_back(i);
      } else if (missing.contains(beats[i].host_id)) {
        out.missing.push_back(i);
      } else {
        written[beats[i].host_id] = beats[i];
      }
    }
    return out;
  }
  std::mutex mu;
  int calls = 0;
  bool fail = false;
  std::set<std::string> retry, missing;
  std::map<std::string, store::HostBeat> written;
};

// Applies every report (the sequence is stored), counting them.
class CountingWriter : public store::ReportWriter {
 public:
  absl::StatusOr<std::vector<ReportResult>> ApplyReports(const std::vector<const AgentReport*>& reports) override {
    std::lock_guard<std::mutex> lock(mu);
    std::vector<ReportResult> out(reports.size());
    for (size_t i = 0; i < reports.size(); ++i) {
      applied.push_back(reports[i]->sequence);
      out[i].disposition = reports[i]->channel == "late" ? ReportDisposition::kOutOfOrder : ReportDisposition::kAccepted;
      out[i].stored_sequence = reports[i]->sequence;
    }
    return out;
  }
  std::mutex mu;
  std::vector<int64_t> applied;
};


AgentReport Report(const std::string& host, int64_t sequence, int64_t previous) {
  AgentReport r;
  r.host_id = host;
  r.channel = "stable";
  r.group = "prod";
  r.current_version = "1.2.3";
  r.updater_version = "0.4.0";
  r.instance_id = "i-1";
  r.sequence = sequence;
  r.previous_sequence = previous;
  return r;
}

ReportResult Accepted(int64_t sequence) {
  ReportResult r;
  r.disposition = ReportDisposition::kAccepted;
  r.stored_sequence = sequence;
  return r;
}

class LivenessTest : public ::testing::Test {
 protected:
  LivenessTest() : clock_(kStart), tracker_(&store_, &clock_, &metrics_, {.flush_interval = absl::Seconds(5)}) {}
  // A committed report, as the batcher tells the tracker.
  void Committed(const AgentReport& r) { tracker_.Handled(r, absl::OkStatus(), Accepted(r.sequence)); }

  RecordingLiveness store_;
  FakeClock clock_;
  NoIngestMetrics metrics_;
  LivenessTracker tracker_;
};

TEST_F(LivenessTest, AnUnchangedReportAfterACommittedOneIsAnsweredFromMemory) {
  Committed(Report("h1", 100, 0));
  EXPECT_EQ(tracker_.pending(), 0u);
  clock_.Advance(absl::Seconds(3));
  std::optional<ReportResult> beat = tracker_.TryHeartbeat(Report("h1", 200, 100));
  ASSERT_TRUE(beat.has_value());
  EXPECT_EQ(beat->disposition, ReportDisposition::kAccepted);
  EXPECT_EQ(beat->stored_sequence, 200);
  EXPECT_EQ(tracker_.pending(), 1u);
  // The chain goes on from the heartbeat.
  clock_.Advance(absl::Seconds(3));
  EXPECT_TRUE(tracker_.TryHeartbeat(Report("h1", 300, 200)).has_value());
  EXPECT_FALSE(tracker_.TryHeartbeat(Report("h1", 400, 200)).has_value()) << "predecessor is 300 now";
  EXPECT_EQ(tracker_.Flush(), 1u);
  EXPECT_EQ(store_.written.at("h1").sequence, 300);
  EXPECT_EQ(store_.written.at("h1").last_seen, kStart + absl::Seconds(6));
  EXPECT_EQ(tracker_.pending(), 0u);
  EXPECT_EQ(tracker_.Flush(), 0u) << "nothing new to write";
}

// A change that named its predecessor had its digest computed by the
// heartbeat check; Handled takes that one rather than computing it again.
TEST_F(LivenessTest, TheDigestOfAChangeIsComputedOnceAndRemembered) {
  Committed(Report("h1", 100, 0));
  AgentReport changed = Report("h1", 200, 100);
  changed.current_version = "1.2.4";
  std::optional<LivenessTracker::Digest> digest;
  EXPECT_FALSE(tracker_.TryHeartbeat(changed, &digest).has_value());
  ASSERT_TRUE(digest.has_value());
  tracker_.Handled(changed, absl::OkStatus(), Accepted(200), digest);
  AgentReport same = Report("h1", 300, 200);
  same.current_version = "1.2.4";
  EXPECT_TRUE(tracker_.TryHeartbeat(same).has_value()) << "the new state, remembered by the digest passed";
  AgentReport old = Report("h1", 400, 300);
  EXPECT_FALSE(tracker_.TryHeartbeat(old).has_value()) << "the old version is a change again";
  // A report the check refused early (no predecessor named) leaves none.
  std::optional<LivenessTracker::Digest> none;
  EXPECT_FALSE(tracker_.TryHeartbeat(Report("h2", 100, 0), &none).has_value());
  EXPECT_FALSE(none.has_value());
}

TEST_F(LivenessTest, EverythingElseIsCommitted) {
  EXPECT_FALSE(tracker_.TryHeartbeat(Report("h1", 200, 100)).has_value()) << "never handled here";
  Committed(Report("h1", 100, 0));
  AgentReport changed = Report("h1", 200, 100);
  changed.current_version = "1.2.4";
  EXPECT_FALSE(tracker_.TryHeartbeat(changed).has_value()) << "a new version";
  AgentReport outcome = Report("h1", 200, 100);
  outcome.outcomes.push_back({});
  EXPECT_FALSE(tracker_.TryHeartbeat(outcome).has_value()) << "an outcome";
  EXPECT_FALSE(tracker_.TryHeartbeat(Report("h1", 200, 0)).has_value()) << "previous not acknowledged";
  EXPECT_FALSE(tracker_.TryHeartbeat(Report("h1", 200, 150)).has_value()) << "another replica had 150";
  EXPECT_EQ(tracker_.pending(), 0u);
}

TEST_F(LivenessTest, AReportNotAppliedForgetsTheHost) {
  Committed(Report("h1", 100, 0));
  ReportResult out_of_order;
  out_of_order.disposition = ReportDisposition::kOutOfOrder;
  tracker_.Handled(Report("h1", 150, 100), absl::OkStatus(), out_of_order);
  EXPECT_FALSE(tracker_.TryHeartbeat(Report("h1", 200, 100)).has_value());
  Committed(Report("h1", 300, 0));
  tracker_.Handled(Report("h1", 400, 300), absl::UnavailableError("down"), {});
  EXPECT_FALSE(tracker_.TryHeartbeat(Report("h1", 500, 300)).has_value());
  EXPECT_EQ(tracker_.hosts(), 0u);
}

TEST_F(LivenessTest, ACommitOlderThanARememberedHeartbeatForgetsTheHost) {
  // Only a confused updater sends a heartbeat while an older report is in
  // flight; what is remembered then cannot be trusted.
  Committed(Report("h1", 100, 0));
  ASSERT_TRUE(tracker_.TryHeartbeat(Report("h1", 300, 100)).has_value());
  Committed(Report("h1", 200, 0));
  EXPECT_FALSE(tracker_.TryHeartbeat(Report("h1", 400, 300)).has_value());
  EXPECT_FALSE(tracker_.TryHeartbeat(Report("h1", 400, 200)).has_value());
}

TEST_F(LivenessTest, AFailedFlushKeepsTheHeartbeatsForTheNextOne) {
  Committed(Report("h1", 100, 0));
  Committed(Report("h2", 100, 0));
  ASSERT_TRUE(tracker_.TryHeartbeat(Report("h1", 200, 100)).has_value());
  ASSERT_TRUE(tracker_.TryHeartbeat(Report("h2", 200, 100)).has_value());
  store_.fail = true;
  EXPECT_EQ(tracker_.Flush(), 0u);
  EXPECT_EQ(tracker_.pending(), 2u);
  store_.fail = false;
  EXPECT_EQ(tracker_.Flush(), 2u);
  EXPECT_EQ(store_.written.size(), 2u);
}

TEST_F(LivenessTest, RowsChangedMeanwhileAreWrittenAgainAndMissingHostsForgotten) {
  for (const char* h : {"h1", "h2", "h3"}) Committed(Report(h, 100, 0));
  for (const char* h : {"h1", "h2", "h3"}) ASSERT_TRUE(tracker_.TryHeartbeat(Report(h, 200, 100)).has_value());
  store_.retry = {"h2"};
  store_.missing = {"h3"};
  EXPECT_EQ(tracker_.Flush(), 1u);
  EXPECT_EQ(tracker_.pending(), 1u) << "h2 again";
  EXPECT_EQ(tracker_.hosts(), 2u) << "h3 forgotten";
  EXPECT_FALSE(tracker_.TryHeartbeat(Report("h3", 300, 200)).has_value()) << "committed: refused or stored anew";
  store_.retry.clear();
  EXPECT_EQ(tracker_.Flush(), 1u);
  EXPECT_EQ(store_.written.count("h2"), 1u);
}

TEST_F(LivenessTest, HostsSilentForLongAreForgotten) {
  Committed(Report("h1", 100, 0));
  Committed(Report("h2", 100, 0));
  clock_.Advance(absl::Minutes(59));
  ASSERT_TRUE(tracker_.TryHeartbeat(Report("h2", 200, 100)).has_value());
  tracker_.Flush();
  clock_.Advance(absl::Minutes(2));
  tracker_.Flush();
  EXPECT_EQ(tracker_.hosts(), 1u);
  EXPECT_FALSE(tracker_.TryHeartbeat(Report("h1", 300, 100)).has_value());
  EXPECT_TRUE(tracker_.TryHeartbeat(Report("h2", 300, 200)).has_value());
}

TEST(LivenessLimitTest, BeyondMaxHostsReportsAreCommitted) {
  RecordingLiveness store;
  FakeClock clock(kStart);
  NoIngestMetrics metrics;
  LivenessTracker tracker(&store, &clock, &metrics, {.max_hosts = 2});
  for (const char* h : {"h1", "h2", "h3"}) tracker.Handled(Report(h, 100, 0), absl::OkStatus(), Accepted(100));
  EXPECT_EQ(tracker.hosts(), 2u);
  EXPECT_FALSE(tracker.TryHeartbeat(Report("h3", 200, 100)).has_value());
}

TEST(LivenessShutdownTest, ShutdownWritesWhatIsPending) {
  RecordingLiveness store;
  RealClock clock;
  NoIngestMetrics metrics;
  LivenessTracker tracker(&store, &clock, &metrics, {.flush_interval = absl::Seconds(10)});
  tracker.Start();
  tracker.Handled(Report("h1", 100, 0), absl::OkStatus(), Accepted(100));
  ASSERT_TRUE(tracker.TryHeartbeat(Report("h1", 200, 100)).has_value());
  tracker.Shutdown();
  EXPECT_EQ(store.written.count("h1"), 1u);
}

TEST(LivenessShutdownTest, ShutdownGivesUpAtItsBudgetAndKeepsTheRestPending) {
  RecordingLiveness store;
  FakeClock clock(kStart);
  NoIngestMetrics metrics;
  LivenessTracker tracker(&store, &clock, &metrics, {.flush_batch = 1});
  for (const char* h : {"h1", "h2"}) {
    tracker.Handled(Report(h, 100, 0), absl::OkStatus(), Accepted(100));
    ASSERT_TRUE(tracker.TryHeartbeat(Report(h, 200, 100)).has_value());
  }
  EXPECT_EQ(tracker.Flush(kStart - absl::Seconds(1)), 0u) << "past its deadline: nothing written";
  EXPECT_EQ(tracker.pending(), 2u);
  tracker.Shutdown(absl::ZeroDuration());
  EXPECT_TRUE(store.written.empty());
  EXPECT_EQ(tracker.pending(), 2u);
}

TEST(LivenessFlusherTest, TheFlusherWritesEveryInterval) {
  RecordingLiveness store;
  RealClock clock;
  NoIngestMetrics metrics;
  LivenessTracker tracker(&store, &clock, &metrics, {.flush_interval = absl::Milliseconds(20)});
  tracker.Start();
  tracker.Handled(Report("h1", 100, 0), absl::OkStatus(), Accepted(100));
  ASSERT_TRUE(tracker.TryHeartbeat(Report("h1", 200, 100)).has_value());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool written = false;
  while (!written && std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(store.mu);
      written = store.written.count("h1") == 1;
    }
    if (!written) std::this_thread::yield();
  }
  EXPECT_TRUE(written);
  tracker.Shutdown();
}

// Through the batcher: the first report is committed, the unchanged one after
// it never reaches the store, a changed one does.
TEST(LivenessBatcherTest, HeartbeatsSkipTheStore) {
  CountingWriter writer;
  RecordingLiveness liveness_store;
  FakeClock clock(kStart);
  NoIngestMetrics metrics;
  LivenessTracker tracker(&liveness_store, &clock, &metrics, {});
  ReportBatcher batcher(&writer, &metrics, {}, &tracker);
  auto submit = [&](AgentReport r) {
    std::promise<std::pair<absl::Status, ReportResult>> answer;
    batcher.Submit(std::move(r), [&](const absl::Status& s, const ReportResult& result) {
      answer.set_value({s, result});
    });
    auto f = answer.get_future();
    EXPECT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    return f.get();
  };
  EXPECT_TRUE(submit(Report("h1", 100, 0)).first.ok());
  auto beat = submit(Report("h1", 200, 100));
  EXPECT_TRUE(beat.first.ok());
  EXPECT_EQ(beat.second.disposition, ReportDisposition::kAccepted);
  EXPECT_EQ(beat.second.stored_sequence, 200);
  AgentReport changed = Report("h1", 300, 200);
  changed.health = rollout::Health::kUnhealthy;
  EXPECT_TRUE(submit(changed).first.ok());
  AgentReport late = Report("h1", 400, 300);
  late.channel = "late";  // the scripted store answers OUT_OF_ORDER
  EXPECT_TRUE(submit(late).first.ok());
  EXPECT_TRUE(submit(Report("h1", 500, 400)).first.ok()) << "committed: the host was forgotten";
  batcher.Shutdown();
  std::lock_guard<std::mutex> lock(writer.mu);
  EXPECT_EQ(writer.applied, (std::vector<int64_t>{100, 300, 400, 500}));
}

}  // namespace
}  // namespace drover::ingest
