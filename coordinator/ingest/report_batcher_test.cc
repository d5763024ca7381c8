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
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace drover::ingest {
namespace {

using rollout::AgentReport;
using rollout::ReportDisposition;
using store::ReportResult;

constexpr auto kDeadline = std::chrono::seconds(10);

// Answers every report with its own sequence as the stored one (odd sequences
// as duplicates), or fails whole batches while `fail` is set; can hold a
// batch until released.
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
      out[i].stored_sequence = reports[i]->sequence;
      out[i].disposition = reports[i]->sequence % 2 ? ReportDisposition::kDuplicate : ReportDisposition::kAccepted;
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
  Answers answers;
  constexpr int kThreads = 4, kPerThread = 250;
  {
    ReportBatcher batcher(&store, nullptr, {.max_batch = 64});
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
}

TEST(ReportBatcherTest, WriterCommitsTheNextBatchWhileCallersOfTheLastAreStillBeingAnswered) {
  ScriptedStore store;
  std::mutex mu;
  std::condition_variable cv;
  bool second_batch_seen = false;
  bool first_answered = false;
  Answers answers;
  ReportBatcher batcher(&store, nullptr, {});
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
  Answers answers;
  {
    ReportBatcher batcher(&store, nullptr, {});
    for (int host = 0; host < 20; ++host) batcher.Submit(Report(host, 2), answers.For(host));
    ASSERT_TRUE(answers.AwaitCount(20));
  }
  for (const auto& [host, a] : answers.Snapshot()) {
    EXPECT_EQ(a.calls, 1) << "host " << host;
    EXPECT_EQ(a.status.code(), absl::StatusCode::kUnavailable) << "host " << host;
    EXPECT_TRUE(absl::StrContains(a.status.message(), "scripted failure")) << a.status;
  }
}

TEST(ReportBatcherTest, ShutdownCommitsAndAnswersEverythingQueuedThenRefuses) {
  ScriptedStore store;
  store.Hold(true);
  Answers answers;
  ReportBatcher batcher(&store, nullptr, {.max_batch = 8});
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
}

TEST(ReportBatcherTest, FullQueueRefusesAtOnceNamingTheBacklog) {
  ScriptedStore store;
  store.Hold(true);
  Answers answers;
  ReportBatcher batcher(&store, nullptr, {.max_batch = 1, .max_queue = 2});
  batcher.Submit(Report(0, 2), answers.For(0));  // taken by the writer, held in the store
  ASSERT_TRUE(store.AwaitBatches(1));
  batcher.Submit(Report(1, 2), answers.For(1));
  batcher.Submit(Report(2, 2), answers.For(2));
  batcher.Submit(Report(3, 2), answers.For(3));  // the queue holds 2 already
  std::map<int, Answers::Answer> now = answers.Snapshot();
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[3].status.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(now[3].status.message(), "2 reports already waiting")) << now[3].status;
  store.Hold(false);
  ASSERT_TRUE(answers.AwaitCount(4));
  for (int host = 0; host < 3; ++host) EXPECT_TRUE(answers.Snapshot()[host].status.ok()) << "host " << host;
}

}  // namespace
}  // namespace drover::ingest
