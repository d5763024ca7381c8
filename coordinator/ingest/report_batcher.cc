#include "coordinator/ingest/report_batcher.h"

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace drover::ingest {

ReportBatcher::ReportBatcher(store::AgentStore* store, metrics::FleetMetrics* metrics,
                             ReportBatcherOptions options)
    : store_(store), metrics_(metrics), options_(options) {
  for (int i = 0; i < std::max(1, options_.writers); ++i) shards_.push_back(std::make_unique<Shard>());
  for (auto& shard : shards_) writers_.emplace_back([this, s = shard.get()] { WriterLoop(s); });
}

ReportBatcher::~ReportBatcher() { Shutdown(); }

void ReportBatcher::Submit(rollout::AgentReport report, Done done) {
  absl::Status refused;
  Shard* shard = shards_[absl::HashOf(report.host_id) % shards_.size()].get();
  bool notify = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      refused = absl::UnavailableError("coordinator is shutting down: send the report to another replica or retry");
    } else if (queued_ >= options_.max_queue) {
      refused = absl::UnavailableError(
          absl::StrCat("coordinator overloaded: ", queued_, " reports already waiting; retry with backoff"));
    } else {
      shard->queue.push_back({std::move(report), std::move(done)});
      ++queued_;
      notify = shard->idle;
    }
  }
  if (!refused.ok()) {
    if (metrics_) metrics_->CountReport(metrics::ReportOutcome::kUnavailable);
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
  }
  for (auto& shard : shards_) shard->cv.notify_all();
  for (std::thread& t : writers_) {
    if (t.joinable()) t.join();
  }
  writers_.clear();
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
        batch.push_back(std::move(shard->queue.front()));
        shard->queue.pop_front();
      }
      queued_ -= n;
      if (metrics_) metrics_->SetQueueDepth(queued_);
    }
    Commit(batch);
    batch.clear();
  }
}

void ReportBatcher::Commit(std::vector<Pending>& batch) {
  std::vector<const rollout::AgentReport*> reports;
  reports.reserve(batch.size());
  for (const Pending& p : batch) reports.push_back(&p.report);

  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<store::ReportResult>> results = store_->ApplyReports(reports);
  const absl::Duration took = absl::Now() - start;

  if (!results.ok()) {
    if (metrics_) metrics_->CountDatabaseError("apply_reports");
    for (Pending& p : batch) {
      if (metrics_) metrics_->CountReport(metrics::ReportOutcome::kUnavailable);
      p.done(results.status(), {});
    }
    return;
  }
  if (metrics_) metrics_->ObserveBatch(batch.size(), took);
  for (size_t i = 0; i < batch.size(); ++i) {
    const store::ReportResult& r = (*results)[i];
    if (metrics_) {
      if (r.status.code() == absl::StatusCode::kNotFound) {
        metrics_->CountReport(metrics::ReportOutcome::kUnknownChannel);
      } else if (!r.status.ok()) {
        metrics_->CountReport(metrics::ReportOutcome::kUnavailable);
      } else {
        switch (r.disposition) {
          case rollout::ReportDisposition::kAccepted:
            metrics_->CountReport(metrics::ReportOutcome::kAccepted);
            for (const rollout::UpdateOutcome& o : batch[i].report.outcomes) {
              metrics_->CountOutcome(batch[i].report.channel, o.result);
            }
            break;
          case rollout::ReportDisposition::kDuplicate:
            metrics_->CountReport(metrics::ReportOutcome::kDuplicate);
            break;
          case rollout::ReportDisposition::kOutOfOrder:
            metrics_->CountReport(metrics::ReportOutcome::kOutOfOrder);
            break;
        }
      }
    }
    batch[i].done(r.status, r);
  }
}

}  // namespace drover::ingest
