#include "coordinator/ingest/report_batcher.h"

#include <algorithm>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace drover::ingest {

size_t ApproximateBytes(const rollout::AgentReport& r) {
  size_t bytes = sizeof(rollout::AgentReport) + r.host_id.capacity() + r.channel.capacity() + r.group.capacity() +
                 r.current_version.capacity() + r.updater_version.capacity() + r.instance_id.capacity();
  for (const rollout::UpdateOutcome& o : r.outcomes) {
    bytes += sizeof(o) + o.from_version.capacity() + o.to_version.capacity() + o.error.capacity();
  }
  return bytes;
}

ReportBatcher::ReportBatcher(store::ReportWriter* store, IngestMetrics* metrics, ReportBatcherOptions options,
                             LivenessTracker* liveness)
    : store_(store), metrics_(metrics), options_(options), liveness_(liveness) {
  for (int i = 0; i < std::max(1, options_.writers); ++i) shards_.push_back(std::make_unique<Shard>());
  for (auto& shard : shards_) writers_.emplace_back([this, s = shard.get()] { WriterLoop(s); });
  replier_ = std::thread([this] { ReplierLoop(); });
}

ReportBatcher::~ReportBatcher() { Shutdown(); }

void ReportBatcher::Submit(rollout::AgentReport report, Done done) {
  std::optional<LivenessTracker::Digest> digest;
  if (liveness_ != nullptr && !stopping_flag_.load(std::memory_order_acquire)) {
    // Changes nothing durable: answered now, written with the next flush.
    if (std::optional<store::ReportResult> beat = liveness_->TryHeartbeat(report, &digest)) {
      metrics_->CountReport(ReportOutcome::kHeartbeat);
      done(absl::OkStatus(), *beat);
      return;
    }
  }
  absl::Status refused;
  Shard* shard = shards_[absl::HashOf(report.host_id) % shards_.size()].get();
  const size_t bytes = ApproximateBytes(report);
  bool notify = false;
  ReportOutcome refusal = ReportOutcome::kUnavailable;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      refused = absl::UnavailableError("coordinator is shutting down: send the report to another replica or retry");
    } else if (queued_ >= options_.max_queue) {
      refused = absl::UnavailableError(
          absl::StrCat("coordinator overloaded: ", queued_, " reports already waiting; retry with backoff"));
    } else if (options_.max_queue_bytes > 0 && queued_bytes_ + bytes > options_.max_queue_bytes) {
      refusal = ReportOutcome::kQueueFull;
      refused = absl::UnavailableError(absl::StrCat("coordinator overloaded: ", queued_bytes_,
                                                    " bytes of reports already waiting (--max_queue_bytes=",
                                                    options_.max_queue_bytes, "); retry with backoff"));
    } else {
      shard->queue.push_back({std::move(report), std::move(done), bytes, digest});
      ++queued_;
      queued_bytes_ += bytes;
      notify = shard->idle;
    }
  }
  if (!refused.ok()) {
    metrics_->CountReport(refusal);
    done(refused, {});
    return;
  }
  // A busy writer looks at its queue again before it sleeps.
  if (notify) shard->cv.notify_one();
}

void ReportBatcher::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && writers_.empty()) return;
    stopping_ = true;
    stopping_flag_.store(true, std::memory_order_release);
  }
  for (auto& shard : shards_) shard->cv.notify_all();
  for (std::thread& t : writers_) {
    if (t.joinable()) t.join();
  }
  writers_.clear();
  {
    std::lock_guard<std::mutex> lock(reply_mu_);
    writers_done_ = true;
  }
  reply_cv_.notify_one();
  if (replier_.joinable()) replier_.join();
}

void ReportBatcher::WriterLoop(Shard* shard) {
  std::vector<Pending> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      shard->idle = true;
      shard->cv.wait(lock, [&] { return stopping_ || !shard->queue.empty(); });
      shard->idle = false;
      if (shard->queue.empty()) return;  // stopping, and everything is committed
      size_t n = std::min(options_.max_batch, shard->queue.size());
      batch.reserve(n);
      for (size_t i = 0; i < n; ++i) {
        queued_bytes_ -= shard->queue.front().bytes;
        batch.push_back(std::move(shard->queue.front()));
        shard->queue.pop_front();
      }
      queued_ -= n;
      metrics_->SetQueueDepth(queued_);
    }
    Answered answered = Commit(std::move(batch));
    batch = {};
    bool notify;
    {
      std::lock_guard<std::mutex> lock(reply_mu_);
      answered_.push_back(std::move(answered));
      notify = replier_idle_;
    }
    if (notify) reply_cv_.notify_one();
  }
}

void ReportBatcher::ReplierLoop() {
  for (;;) {
    Answered a;
    {
      std::unique_lock<std::mutex> lock(reply_mu_);
      replier_idle_ = true;
      reply_cv_.wait(lock, [&] { return writers_done_ || !answered_.empty(); });
      replier_idle_ = false;
      if (answered_.empty()) return;  // the writers are gone and every caller is answered
      a = std::move(answered_.front());
      answered_.pop_front();
    }
    for (size_t i = 0; i < a.batch.size(); ++i) {
      if (a.status.ok()) {
        a.batch[i].done(a.results[i].status, a.results[i]);
      } else {
        a.batch[i].done(a.status, {});
      }
    }
  }
}

ReportBatcher::Answered ReportBatcher::Commit(std::vector<Pending> batch) {
  std::vector<const rollout::AgentReport*> reports;
  reports.reserve(batch.size());
  for (const Pending& p : batch) reports.push_back(&p.report);

  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<store::ReportResult>> results = store_->ApplyReports(reports);
  const absl::Duration took = absl::Now() - start;

  if (liveness_ != nullptr) {
    // Before anyone is answered: a host's next report, sent after the
    // answer, must find this one remembered.
    for (size_t i = 0; i < batch.size(); ++i) {
      liveness_->Handled(batch[i].report, results.ok() ? absl::OkStatus() : results.status(),
                         results.ok() ? (*results)[i] : store::ReportResult{}, batch[i].digest);
    }
  }
  if (!results.ok()) {
    metrics_->CountDatabaseError("apply_reports");
    for (size_t i = 0; i < batch.size(); ++i) metrics_->CountReport(ReportOutcome::kUnavailable);
    return {.batch = std::move(batch), .status = results.status()};
  }
  metrics_->ObserveBatch(batch.size(), took);
  for (size_t i = 0; i < batch.size(); ++i) {
    const store::ReportResult& r = (*results)[i];
    if (r.status.code() == absl::StatusCode::kNotFound) {
      metrics_->CountReport(ReportOutcome::kUnknownChannel);
    } else if (!r.status.ok()) {
      metrics_->CountReport(ReportOutcome::kUnavailable);
    } else {
      switch (r.disposition) {
        case rollout::ReportDisposition::kAccepted:
          metrics_->CountReport(ReportOutcome::kAccepted);
          for (const rollout::UpdateOutcome& o : batch[i].report.outcomes) {
            metrics_->CountOutcome(batch[i].report.channel, o.result);
          }
          break;
        case rollout::ReportDisposition::kDuplicate:
          metrics_->CountReport(ReportOutcome::kDuplicate);
          break;
        case rollout::ReportDisposition::kOutOfOrder:
          metrics_->CountReport(ReportOutcome::kOutOfOrder);
          break;
        case rollout::ReportDisposition::kSequenceTooFarAhead:
          metrics_->CountReport(ReportOutcome::kSequenceTooFarAhead);
          break;
      }
    }
  }
  return {.batch = std::move(batch), .results = *std::move(results)};
}

}  // namespace drover::ingest
