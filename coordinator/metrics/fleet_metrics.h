// The coordinator's Prometheus metrics: ingest counters updated inline, and
// fleet gauges refreshed from the store's counters (so every replica exports
// the same fleet-wide numbers). No host id is ever a label.
#pragma once

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "absl/time/time.h"
#include "coordinator/ingest/ingest_metrics.h"
#include "coordinator/rollout/model.h"
#include "coordinator/store/store.h"

namespace drover::metrics {

// How a report ended, for drover_reports_total{result}.
using ReportOutcome = ingest::ReportOutcome;

// drover_rpc_requests_total of one method, with a lock-free fast path: the
// hot RPCs count every call, and a label lookup per call costs more than
// the counting.
class RpcCounters {
 public:
  RpcCounters(prometheus::Family<prometheus::Counter>* family, std::string method)
      : family_(family), method_(std::move(method)) {}
  void Count(int grpc_code);

 private:
  prometheus::Family<prometheus::Counter>* family_;
  std::string method_;
  std::array<std::atomic<prometheus::Counter*>, 17> by_code_{};
};

class FleetMetrics final : public ingest::IngestMetrics {
 public:
  FleetMetrics(std::string version, std::string revision);

  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  void CountReport(ReportOutcome outcome) override;
  void CountOutcome(const std::string& channel, rollout::UpdateResult result) override;
  void ObserveBatch(size_t size, absl::Duration commit_duration) override;
  void CountDatabaseError(const std::string& operation) override;
  void SetQueueDepth(size_t depth) override;
  void ObserveLivenessFlush(size_t written, absl::Duration took, bool ok) override;
  void SetLiveness(size_t hosts, size_t pending) override;
  void CountRpc(const std::string& method, int grpc_code);
  // Counters of one method, for hot paths; lives as long as this object.
  RpcCounters* RpcCountersFor(const std::string& method);

  // Replaces every fleet gauge with what `inputs` say.
  void UpdateFleet(const std::vector<store::RolloutInputs>& inputs, absl::Time now);
  // Replaces the gauges of schedule states and instance conflicts per channel,
  // and of hosts reporting for channels that do not exist.
  void UpdateVisibility(const std::vector<store::RolloutInputs>& inputs, int64_t orphaned_hosts);
  void CountRefreshError();
  // Brings drover_database_retries_total up to `total` (the store's own count).
  void SetDatabaseRetries(int64_t total);
  // Brings drover_database_read_fallbacks_total up to `total`.
  void SetDatabaseReadFallbacks(int64_t total);
  // Brings drover_database_watchdog_closes_total up to `total`.
  void SetDatabaseWatchdogCloses(int64_t total);
  void SetDatabaseUp(bool up);
  // One request refused by an abuse limit, for drover_requests_refused_total:
  // "report_rate", "get_target_rate" or "max_channels".
  void CountRefusal(const std::string& reason);
  // Retention (rollout/retention.h), on the replica that ran it.
  void CountAgentsForgotten(int64_t n);
  void CountPartitionsDropped(const std::string& table, int64_t n);
  void SetRetentionSuccess(absl::Time at);
  // At most this many distinct version label values (VersionLabels); 0: no cap.
  void set_max_version_labels(size_t n) { max_version_labels_ = n; }

 private:
  // Sets gauges of a family, removing label sets not in `values`.
  void ReplaceGauges(prometheus::Family<prometheus::Gauge>& family,
                     std::map<std::map<std::string, std::string>, prometheus::Gauge*>& current,
                     const std::map<std::map<std::string, std::string>, double>& values);

  std::shared_ptr<prometheus::Registry> registry_;

  prometheus::Family<prometheus::Counter>& reports_;
  std::vector<prometheus::Counter*> report_counters_;
  prometheus::Family<prometheus::Counter>& outcomes_;
  prometheus::Histogram& batch_size_;
  prometheus::Histogram& batch_commit_;
  prometheus::Family<prometheus::Counter>& db_errors_;
  prometheus::Gauge& queue_depth_;
  prometheus::Histogram& liveness_flush_;
  prometheus::Counter& liveness_written_;
  prometheus::Counter& liveness_flush_failures_;
  prometheus::Gauge& liveness_hosts_;
  prometheus::Gauge& liveness_pending_;
  prometheus::Counter& agents_forgotten_;
  prometheus::Family<prometheus::Counter>& partitions_dropped_;
  prometheus::Gauge& retention_success_;
  prometheus::Family<prometheus::Counter>& rpcs_;
  prometheus::Counter& refresh_errors_;
  prometheus::Gauge& last_refresh_;
  prometheus::Counter& db_retries_;
  prometheus::Counter& db_watchdog_closes_;
  prometheus::Counter& db_read_fallbacks_;
  prometheus::Gauge& db_up_;

  prometheus::Family<prometheus::Gauge>& agents_;
  prometheus::Family<prometheus::Gauge>& agents_total_;
  prometheus::Family<prometheus::Gauge>& on_target_;
  prometheus::Family<prometheus::Gauge>& on_target_ratio_;
  prometheus::Family<prometheus::Gauge>& stale_;
  prometheus::Family<prometheus::Gauge>& out_of_policy_;
  prometheus::Family<prometheus::Gauge>& unhealthy_;
  prometheus::Family<prometheus::Gauge>& target_info_;
  prometheus::Family<prometheus::Gauge>& critical_;
  prometheus::Family<prometheus::Gauge>& target_time_;
  prometheus::Family<prometheus::Gauge>& since_target_;
  prometheus::Family<prometheus::Gauge>& schedule_states_;
  prometheus::Family<prometheus::Gauge>& instance_conflicts_;
  prometheus::Gauge& orphaned_hosts_;
  prometheus::Family<prometheus::Counter>& refused_;
  prometheus::Gauge& versions_folded_;
  std::atomic<size_t> max_version_labels_{0};

  std::mutex rpc_mu_;
  std::map<std::string, std::unique_ptr<RpcCounters>> rpc_counters_;

  std::mutex fleet_mu_;
  std::map<const void*, std::map<std::map<std::string, std::string>, prometheus::Gauge*>> fleet_current_;
};

}  // namespace drover::metrics
