// The batcher's contract with its callers: each report is answered exactly
// once, with its own result or its batch's error, from a thread that is not
// the writer's, and nothing queued is dropped at shutdown. The store here is a
// scripted stand-in for the interface; PostgreSQL behind it is covered by the
// store and API integration tests.
#include "coordinator/ingest/report_batcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace drover::ingest {
namespace {

using rollout::AgentReport;
using rollout::ReportDisposition;
using store::ReportResult;

constexpr auto kDeadline = std::chrono::seconds(10);

// Answers every report with its own sequence as the stored one (odd sequences
// as duplicates; reports for channel "gone" as unknown, for "flaky" as not
// stored, for "late" as out of order), or fails whole batches while `fail` is
// set; can hold a batch until released.
class ScriptedStore : public store::ReportWriter {
 public:
  absl::StatusOr<std::vector<ReportResult>> ApplyReports(const std::vector<const AgentReport*>& reports) override {
    std::unique_lock<std::mutex> lock(mu_);
    ++batches_;
    writer_thread_ = std::this_thread::get_id();
    cv_.notify_all();
    cv_.wait_for(lock, kDeadline, [&] { return !hold_; });
    if (fail_) return absl::UnavailableError("database unavailable: scripted failure");
    std::vector<ReportResult> out(reports.size());
    for (size_t i = 0; i < reports.size(); ++i) {
      if (reports[i]->channel == "gone") {
        out[i].status = absl::NotFoundError("channel gone");
        continue;
      }
      if (reports[i]->channel == "flaky") {
        out[i].status = absl::UnavailableError("not stored");
        continue;
      }
      out[i].stored_sequence = reports[i]->sequence;
      out[i].disposition = reports[i]->sequence % 2 ? ReportDisposition::kDuplicate : ReportDisposition::kAccepted;
      if (reports[i]->channel == "late") out[i].disposition = ReportDisposition::kOutOfOrder;
    }
    return out;
  }

  void Hold(bool hold) {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = hold;
    cv_.notify_all();
  }
  void Fail(bool fail) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_ = fail;
  }
  // True once at least `n` batches have reached the store.
  bool AwaitBatches(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kDeadline, [&] { return batches_ >= n; });
  }
  std::thread::id writer_thread() {
    std::lock_guard<std::mutex> lock(mu_);
    return writer_thread_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int batches_ = 0;
  bool hold_ = false;
  bool fail_ = false;
  std::thread::id writer_thread_;
};

// Every event the batcher records, for the tests to assert.
class RecordingMetrics final : public IngestMetrics {
 public:
  struct Events {
    std::map<ReportOutcome, int> reports;
    std::map<std::pair<std::string, rollout::UpdateResult>, int> outcomes;
    std::vector<size_t> batch_sizes;
    std::map<std::string, int> database_errors;
    std::vector<size_t> queue_depths;

    int Reports(ReportOutcome o) const {
      auto it = reports.find(o);
      return it == reports.end() ? 0 : it->second;
    }
    size_t BatchedReports() const {
      size_t n = 0;
      for (size_t size : batch_sizes) n += size;
      return n;
    }
  };

  void CountReport(ReportOutcome outcome) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++events_.reports[outcome];
  }
  void CountOutcome(const std::string& channel, rollout::UpdateResult result) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++events_.outcomes[{channel, result}];
  }
  void ObserveBatch(size_t size, absl::Duration commit_duration) override {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_GE(commit_duration, absl::ZeroDuration());
    events_.batch_sizes.push_back(size);
  }
  void CountDatabaseError(const std::string& operation) override {
    std::lock_guard<std::mutex> lock(mu_);
    ++events_.database_errors[operation];
  }
  void SetQueueDepth(size_t depth) override {
    std::lock_guard<std::mutex> lock(mu_);
    events_.queue_depths.push_back(depth);
  }

  Events Snapshot() {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

 private:
  std::mutex mu_;
  Events events_;
};

AgentReport Report(int host, int64_t sequence) {
  AgentReport r;
  r.host_id = absl::StrCat("host-", host);
  r.channel = "stable";
  r.current_version = "1.0.0";
  r.sequence = sequence;
  return r;
}

// What the callers were told, by host.
class Answers {
 public:
  ReportBatcher::Done For(int host) {
    return [this, host](const absl::Status& status, const ReportResult& result) {
      std::lock_guard<std::mutex> lock(mu_);
      Answer& a = by_host_[host];
      ++a.calls;
      a.status = status;
      a.result = result;
      a.thread = std::this_thread::get_id();
      cv_.notify_all();
    };
  }
  bool AwaitCount(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kDeadline, [&] { return by_host_.size() >= n; });
  }
  struct Answer {
    int calls = 0;
    absl::Status status;
    ReportResult result;
    std::thread::id thread;
  };
  std::map<int, Answer> Snapshot() {
    std::lock_guard<std::mutex> lock(mu_);
    return by_host_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int, Answer> by_host_;
};

TEST(ReportBatcherTest, EveryReportIsAnsweredOnceWithItsOwnResultOffTheWriterThread) {
  ScriptedStore store;
  RecordingMetrics metrics;
  Answers answers;
  constexpr int kThreads = 4, kPerThread = 250;
  {
    ReportBatcher batcher(&store, &metrics, {.max_batch = 64});
    std::vector<std::thread> submitters;
    for (int t = 0; t < kThreads; ++t) {
      submitters.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          const int host = t * kPerThread + i;
          batcher.Submit(Report(host, 100 + host), answers.For(host));
        }
      });
    }
    for (std::thread& t : submitters) t.join();
    ASSERT_TRUE(answers.AwaitCount(kThreads * kPerThread));
  }
  const std::thread::id writer = store.writer_thread();
  for (const auto& [host, a] : answers.Snapshot()) {
    EXPECT_EQ(a.calls, 1) << "host " << host;
    EXPECT_TRUE(a.status.ok()) << "host " << host << ": " << a.status;
    EXPECT_EQ(a.result.stored_sequence, 100 + host);
    EXPECT_EQ(a.result.disposition, host % 2 ? ReportDisposition::kDuplicate : ReportDisposition::kAccepted);
    EXPECT_NE(a.thread, writer) << "host " << host << " was answered by the writer";
  }
  const RecordingMetrics::Events events = metrics.Snapshot();
  EXPECT_EQ(events.Reports(ReportOutcome::kAccepted), kThreads * kPerThread / 2);
  EXPECT_EQ(events.Reports(ReportOutcome::kDuplicate), kThreads * kPerThread / 2);
  EXPECT_EQ(events.reports.size(), 2u);
  EXPECT_EQ(events.BatchedReports(), static_cast<size_t>(kThreads * kPerThread));
  for (size_t size : events.batch_sizes) EXPECT_LE(size, 64u);
  EXPECT_TRUE(events.database_errors.empty());
  // The depth is set each time a writer takes a batch; the last one empties the queue.
  ASSERT_EQ(events.queue_depths.size(), events.batch_sizes.size());
  EXPECT_EQ(events.queue_depths.back(), 0u);
}

TEST(ReportBatcherTest, WriterCommitsTheNextBatchWhileCallersOfTheLastAreStillBeingAnswered) {
  ScriptedStore store;
  std::mutex mu;
  std::condition_variable cv;
  bool second_batch_seen = false;
  bool first_answered = false;
  Answers answers;
  NoIngestMetrics metrics;
  ReportBatcher batcher(&store, &metrics, {});
  // The first caller's answer does not return before the second batch has
  // reached the store: with answers on the writer's thread this would wait
  // out its deadline.
  batcher.Submit(Report(1, 2), [&](const absl::Status&, const ReportResult&) {
    const bool seen = store.AwaitBatches(2);
    std::lock_guard<std::mutex> lock(mu);
    second_batch_seen = seen;
    first_answered = true;
    cv.notify_all();
  });
  ASSERT_TRUE(store.AwaitBatches(1));
  batcher.Submit(Report(2, 2), answers.For(2));
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, kDeadline * 2, [&] { return first_answered; }));
  EXPECT_TRUE(second_batch_seen);
  lock.unlock();
  ASSERT_TRUE(answers.AwaitCount(1));
  EXPECT_TRUE(answers.Snapshot()[2].status.ok());
}

TEST(ReportBatcherTest, FailedBatchAnswersEachOfItsCallersWithTheError) {
  ScriptedStore store;
  store.Fail(true);
  RecordingMetrics metrics;
  Answers answers;
  {
    ReportBatcher batcher(&store, &metrics, {});
    for (int host = 0; host < 20; ++host) batcher.Submit(Report(host, 2), answers.For(host));
    ASSERT_TRUE(answers.AwaitCount(20));
  }
  for (const auto& [host, a] : answers.Snapshot()) {
    EXPECT_EQ(a.calls, 1) << "host " << host;
    EXPECT_EQ(a.status.code(), absl::StatusCode::kUnavailable) << "host " << host;
    EXPECT_TRUE(absl::StrContains(a.status.message(), "scripted failure")) << a.status;
  }
  // One database error per failed batch; every report of them unavailable, none committed.
  const RecordingMetrics::Events events = metrics.Snapshot();
  EXPECT_EQ(events.Reports(ReportOutcome::kUnavailable), 20);
  EXPECT_EQ(events.reports.size(), 1u);
  ASSERT_EQ(events.database_errors.size(), 1u);
  EXPECT_GE(events.database_errors.at("apply_reports"), 1);
  EXPECT_LE(events.database_errors.at("apply_reports"), 20);
  EXPECT_TRUE(events.batch_sizes.empty());
  EXPECT_TRUE(events.outcomes.empty());
}

TEST(ReportBatcherTest, ShutdownCommitsAndAnswersEverythingQueuedThenRefuses) {
  ScriptedStore store;
  store.Hold(true);
  RecordingMetrics metrics;
  Answers answers;
  ReportBatcher batcher(&store, &metrics, {.max_batch = 8});
  constexpr int kReports = 50;
  for (int host = 0; host < kReports; ++host) batcher.Submit(Report(host, 2), answers.For(host));
  ASSERT_TRUE(store.AwaitBatches(1));
  std::thread stopper([&] { batcher.Shutdown(); });
  store.Hold(false);
  stopper.join();
  // Shutdown returns only after every caller has its answer.
  std::map<int, Answers::Answer> got = answers.Snapshot();
  ASSERT_EQ(got.size(), static_cast<size_t>(kReports));
  for (const auto& [host, a] : got) {
    EXPECT_EQ(a.calls, 1) << "host " << host;
    EXPECT_TRUE(a.status.ok()) << "host " << host << ": " << a.status;
  }
  Answers late;
  batcher.Submit(Report(99, 2), late.For(99));
  std::map<int, Answers::Answer> refused = late.Snapshot();
  ASSERT_EQ(refused.size(), 1u) << "a report after shutdown is refused at once";
  EXPECT_EQ(refused[99].status.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(refused[99].status.message(), "shutting down")) << refused[99].status;
  const RecordingMetrics::Events events = metrics.Snapshot();
  EXPECT_EQ(events.Reports(ReportOutcome::kAccepted), kReports);
  EXPECT_EQ(events.Reports(ReportOutcome::kUnavailable), 1) << "the refused report";
  EXPECT_EQ(events.BatchedReports(), static_cast<size_t>(kReports));
}

TEST(ReportBatcherTest, FullQueueRefusesAtOnceNamingTheBacklog) {
  ScriptedStore store;
  store.Hold(true);
  RecordingMetrics metrics;
  Answers answers;
  ReportBatcher batcher(&store, &metrics, {.max_batch = 1, .max_queue = 2});
  batcher.Submit(Report(0, 2), answers.For(0));  // taken by the writer, held in the store
  ASSERT_TRUE(store.AwaitBatches(1));
  batcher.Submit(Report(1, 2), answers.For(1));
  batcher.Submit(Report(2, 2), answers.For(2));
  batcher.Submit(Report(3, 2), answers.For(3));  // the queue holds 2 already
  std::map<int, Answers::Answer> now = answers.Snapshot();
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[3].status.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(now[3].status.message(), "2 reports already waiting")) << now[3].status;
  // Counted as it is refused, before anything was committed.
  RecordingMetrics::Events events = metrics.Snapshot();
  EXPECT_EQ(events.Reports(ReportOutcome::kUnavailable), 1);
  EXPECT_EQ(events.reports.size(), 1u);
  EXPECT_EQ(events.queue_depths, std::vector<size_t>{0}) << "the writer took report 0 from an otherwise empty queue";
  store.Hold(false);
  ASSERT_TRUE(answers.AwaitCount(4));
  for (int host = 0; host < 3; ++host) EXPECT_TRUE(answers.Snapshot()[host].status.ok()) << "host " << host;
  events = metrics.Snapshot();
  EXPECT_EQ(events.Reports(ReportOutcome::kAccepted), 3);
  EXPECT_EQ(events.batch_sizes, (std::vector<size_t>{1, 1, 1}));
}

// The byte budget refuses what the count would let in: a few large reports.
TEST(ReportBatcherTest, ByteBudgetRefusesLargeReportsNamingTheBytes) {
  ScriptedStore store;
  store.Hold(true);
  RecordingMetrics metrics;
  Answers answers;
  AgentReport big = Report(1, 2);
  big.outcomes.resize(32);
  for (rollout::UpdateOutcome& o : big.outcomes) o.error = std::string(2048, 'e');
  const size_t big_bytes = ApproximateBytes(big);
  EXPECT_GT(big_bytes, 32u * 2048u);
  EXPECT_LT(ApproximateBytes(Report(0, 2)), 1024u);
  ReportBatcher batcher(&store, &metrics, {.max_batch = 1, .max_queue = 1000, .max_queue_bytes = 2 * big_bytes});
  batcher.Submit(Report(0, 2), answers.For(0));  // taken by the writer, held in the store
  ASSERT_TRUE(store.AwaitBatches(1));
  for (int host = 1; host <= 3; ++host) {
    AgentReport r = big;
    r.host_id = absl::StrCat("host-", host);
    batcher.Submit(std::move(r), answers.For(host));
  }
  std::map<int, Answers::Answer> now = answers.Snapshot();
  ASSERT_EQ(now.size(), 1u) << "two fit, the third is refused at once";
  EXPECT_EQ(now[3].status.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(now[3].status.message(), "--max_queue_bytes=")) << now[3].status;
  EXPECT_EQ(metrics.Snapshot().Reports(ReportOutcome::kQueueFull), 1);
  // Bytes are given back as the writer takes reports: room again afterwards.
  store.Hold(false);
  ASSERT_TRUE(answers.AwaitCount(3));
  Answers later;
  AgentReport again = big;
  again.host_id = "host-9";
  again.sequence = 3;
  batcher.Submit(std::move(again), later.For(9));
  ASSERT_TRUE(later.AwaitCount(1));
  EXPECT_TRUE(later.Snapshot()[9].status.ok()) << later.Snapshot()[9].status;
}

// Each committed report is counted once by what became of it, and only an
// accepted report's outcomes count (a duplicate's were counted the first time).
TEST(ReportBatcherTest, CountsEachReportByHowItEndedAndOutcomesOfAcceptedOnes) {
  ScriptedStore store;
  store.Hold(true);
  RecordingMetrics metrics;
  Answers answers;
  auto with_outcomes = [](AgentReport r, std::vector<rollout::UpdateResult> results) {
    for (rollout::UpdateResult result : results) r.outcomes.push_back({.result = result});
    return r;
  };
  using rollout::UpdateResult;
  {
    ReportBatcher batcher(&store, &metrics, {});
    // Held, so that the rest queue up and commit as one batch.
    batcher.Submit(Report(0, 2), answers.For(0));
    ASSERT_TRUE(store.AwaitBatches(1));
    batcher.Submit(with_outcomes(Report(1, 2), {UpdateResult::kSucceeded, UpdateResult::kFailed}), answers.For(1));
    AgentReport other = with_outcomes(Report(2, 4), {UpdateResult::kSucceeded});
    other.channel = "beta";
    batcher.Submit(other, answers.For(2));
    batcher.Submit(with_outcomes(Report(3, 3), {UpdateResult::kRolledBack}), answers.For(3));  // duplicate
    AgentReport gone = with_outcomes(Report(4, 2), {UpdateResult::kFailed});
    gone.channel = "gone";
    batcher.Submit(gone, answers.For(4));
    AgentReport flaky = Report(5, 2);
    flaky.channel = "flaky";
    batcher.Submit(flaky, answers.For(5));
    AgentReport late = with_outcomes(Report(6, 2), {UpdateResult::kSucceeded});
    late.channel = "late";
    batcher.Submit(late, answers.For(6));
    store.Hold(false);
    ASSERT_TRUE(answers.AwaitCount(7));
  }
  const RecordingMetrics::Events events = metrics.Snapshot();
  EXPECT_EQ(events.Reports(ReportOutcome::kAccepted), 3);
  EXPECT_EQ(events.Reports(ReportOutcome::kDuplicate), 1);
  EXPECT_EQ(events.Reports(ReportOutcome::kUnknownChannel), 1);
  EXPECT_EQ(events.Reports(ReportOutcome::kUnavailable), 1);
  EXPECT_EQ(events.Reports(ReportOutcome::kOutOfOrder), 1);
  const std::map<std::pair<std::string, UpdateResult>, int> want_outcomes = {
      {{"stable", UpdateResult::kSucceeded}, 1}, {{"stable", UpdateResult::kFailed}, 1},
      {{"beta", UpdateResult::kSucceeded}, 1}};
  EXPECT_EQ(events.outcomes, want_outcomes);
  EXPECT_EQ(events.batch_sizes, (std::vector<size_t>{1, 6}));
  EXPECT_TRUE(events.database_errors.empty());
}

// Records the order in which each host's reports reach the store, and whether
// two batches in flight at once ever share a host.
class OrderCheckingStore : public store::ReportWriter {
 public:
  absl::StatusOr<std::vector<ReportResult>> ApplyReports(const std::vector<const AgentReport*>& reports) override {
    std::set<std::string> hosts;  // a batch may hold several reports of one host
    for (const AgentReport* r : reports) hosts.insert(r->host_id);
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const std::string& host : hosts) {
        if (!in_flight_.insert(host).second) ++shared_hosts_;
      }
      for (const AgentReport* r : reports) applied_[r->host_id].push_back(r->sequence);
    }
    // Let the other writers run while this batch is "committing".
    std::this_thread::yield();
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::string& host : hosts) in_flight_.erase(host);
    return std::vector<ReportResult>(reports.size());
  }
  std::map<std::string, std::vector<int64_t>> applied() {
    std::lock_guard<std::mutex> lock(mu_);
    return applied_;
  }
  int shared_hosts() {
    std::lock_guard<std::mutex> lock(mu_);
    return shared_hosts_;
  }

 private:
  std::mutex mu_;
  std::set<std::string> in_flight_;
  std::map<std::string, std::vector<int64_t>> applied_;
  int shared_hosts_ = 0;
};

// Several writers commit at once (the ingest pool); each host's reports must
// still apply in the order they were submitted, one batch at a time.
TEST(ReportBatcherTest, ConcurrentWritersKeepEachHostInOrderAndNeverShareOne) {
  OrderCheckingStore store;
  RecordingMetrics metrics;
  constexpr int kSubmitters = 4, kHostsEach = 10, kReportsEach = 40;
  constexpr int kTotal = kSubmitters * kHostsEach * kReportsEach;
  std::mutex mu;
  std::condition_variable cv;
  int answered = 0, failed = 0;
  {
    ReportBatcher batcher(&store, &metrics, {.max_batch = 16, .writers = 3});
    std::vector<std::thread> submitters;
    for (int t = 0; t < kSubmitters; ++t) {
      submitters.emplace_back([&, t] {
        for (int seq = 1; seq <= kReportsEach; ++seq) {
          for (int h = 0; h < kHostsEach; ++h) {
            batcher.Submit(Report(t * kHostsEach + h, seq), [&](const absl::Status& status, const ReportResult&) {
              std::lock_guard<std::mutex> lock(mu);
              ++answered;
              if (!status.ok()) ++failed;
              cv.notify_all();
            });
          }
        }
      });
    }
    for (std::thread& t : submitters) t.join();
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, kDeadline, [&] { return answered == kTotal; })) << answered << " answered";
  }
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(store.shared_hosts(), 0);
  const std::map<std::string, std::vector<int64_t>> applied = store.applied();
  ASSERT_EQ(applied.size(), static_cast<size_t>(kSubmitters * kHostsEach));
  for (const auto& [host, sequences] : applied) {
    ASSERT_EQ(sequences.size(), static_cast<size_t>(kReportsEach)) << host;
    for (int i = 0; i < kReportsEach; ++i) EXPECT_EQ(sequences[i], i + 1) << host;
  }
  const RecordingMetrics::Events events = metrics.Snapshot();
  EXPECT_EQ(events.Reports(ReportOutcome::kAccepted), kTotal);
  EXPECT_EQ(events.BatchedReports(), static_cast<size_t>(kTotal));
}

// Reports submitted while Shutdown runs are each answered exactly once:
// committed if they were queued in time, refused otherwise; never dropped.
TEST(ReportBatcherTest, ReportsRacingShutdownAreEachAnsweredOnce) {
  ScriptedStore store;
  RecordingMetrics metrics;
  Answers answers;
  constexpr int kSubmitters = 4, kEach = 300;
  ReportBatcher batcher(&store, &metrics, {.max_batch = 8, .writers = 2});
  std::vector<std::thread> submitters;
  for (int t = 0; t < kSubmitters; ++t) {
    submitters.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        const int host = t * kEach + i;
        batcher.Submit(Report(host, 2), answers.For(host));
      }
    });
  }
  // Shut down mid-stream: once some reports are in, while others still arrive.
  ASSERT_TRUE(store.AwaitBatches(1));
  batcher.Shutdown();
  for (std::thread& t : submitters) t.join();
  ASSERT_TRUE(answers.AwaitCount(kSubmitters * kEach));
  int committed = 0, refused = 0;
  for (const auto& [host, a] : answers.Snapshot()) {
    EXPECT_EQ(a.calls, 1) << "host " << host;
    if (a.status.ok()) {
      ++committed;
    } else {
      ++refused;
      EXPECT_EQ(a.status.code(), absl::StatusCode::kUnavailable) << a.status;
      EXPECT_TRUE(absl::StrContains(a.status.message(), "shutting down")) << a.status;
    }
  }
  EXPECT_GT(committed, 0);
  EXPECT_EQ(committed + refused, kSubmitters * kEach);
  const RecordingMetrics::Events events = metrics.Snapshot();
  EXPECT_EQ(events.Reports(ReportOutcome::kAccepted), committed);
  EXPECT_EQ(events.Reports(ReportOutcome::kUnavailable), refused);
  EXPECT_EQ(events.BatchedReports(), static_cast<size_t>(committed));
}

}  // namespace
}  // namespace drover::ingest
