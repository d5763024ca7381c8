#include "coordinator/metrics/fleet_metrics.h"

#include <algorithm>

#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/metrics/version_labels.h"
#include "coordinator/rollout/rollout_status.h"

namespace drover::metrics {
namespace {

const char* ResultLabel(rollout::UpdateResult r) {
  switch (r) {
    case rollout::UpdateResult::kSucceeded: return "succeeded";
    case rollout::UpdateResult::kFailed: return "failed";
    case rollout::UpdateResult::kRolledBack: return "rolled_back";
  }
  return "unknown";
}

prometheus::Family<prometheus::Gauge>& Gauge(prometheus::Registry& r, const std::string& name,
                                             const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r);
}

// Brings a counter mirroring another component's own count up to `total`.
void RaiseTo(prometheus::Counter& counter, int64_t total) {
  const double delta = static_cast<double>(total) - counter.Value();
  if (delta > 0) counter.Increment(delta);
}

}  // namespace

FleetMetrics::FleetMetrics(std::string version, std::string revision)
    : registry_(std::make_shared<prometheus::Registry>()),
      reports_(prometheus::BuildCounter()
                   .Name("drover_reports_total")
                   .Help("Status reports received, by result: accepted, duplicate (same sequence), out_of_order "
                         "(older sequence), invalid, unknown_channel, unavailable (database down or overloaded), too_large "
                         "(over --max_message_bytes), sequence_too_far_ahead (refused: a sequence more than a day ahead), "
                         "rate_limited (over --report_rate_per_host), queue_full (over --max_queue_bytes), heartbeat (changed "
                         "nothing durable: answered from memory, last_seen written in bulk)")
                   .Register(*registry_)),
      outcomes_(prometheus::BuildCounter()
                    .Name("drover_update_outcomes_total")
                    .Help("Update outcomes stored by this replica, by channel and result")
                    .Register(*registry_)),
      batch_size_(prometheus::BuildHistogram()
                      .Name("drover_report_batch_size")
                      .Help("Reports per group-commit batch")
                      .Register(*registry_)
                      .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000,
                                                                        2000, 5000})),
      batch_commit_(prometheus::BuildHistogram()
                        .Name("drover_report_batch_commit_duration_seconds")
                        .Help("Time to write and durably commit one batch of reports")
                        .Register(*registry_)
                        .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                          0.1, 0.25, 0.5, 1, 2.5, 5, 10})),
      db_errors_(prometheus::BuildCounter()
                     .Name("drover_database_errors_total")
                     .Help("Failed database operations, by operation")
                     .Register(*registry_)),
      queue_depth_(Gauge(*registry_, "drover_report_queue_depth", "Reports waiting for a batch").Add({})),
      liveness_flush_(prometheus::BuildHistogram()
                          .Name("drover_liveness_flush_duration_seconds")
                          .Help("Time one flush of heartbeats to PostgreSQL took (asynchronous commit)")
                          .Register(*registry_)
                          .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5,
                                                                            1, 2.5, 5, 10})),
      liveness_written_(prometheus::BuildCounter()
                            .Name("drover_liveness_rows_written_total")
                            .Help("Hosts whose last_seen a heartbeat flush moved up")
                            .Register(*registry_)
                            .Add({})),
      liveness_flush_failures_(prometheus::BuildCounter()
                                   .Name("drover_liveness_flush_failures_total")
                                   .Help("Heartbeat flushes in which a statement failed (kept for the next flush)")
                                   .Register(*registry_)
                                   .Add({})),
      liveness_hosts_(Gauge(*registry_, "drover_liveness_hosts",
                            "Hosts this replica remembers, whose unchanged reports it answers from memory")
                          .Add({})),
      liveness_pending_(Gauge(*registry_, "drover_liveness_pending",
                              "Hosts whose heartbeat awaits the next flush to PostgreSQL")
                            .Add({})),
      agents_forgotten_(prometheus::BuildCounter()
                            .Name("drover_agents_forgotten_total")
                            .Help("Agents forgotten because they were not seen for --forget_agents_after")
                            .Register(*registry_)
                            .Add({})),
      partitions_dropped_(prometheus::BuildCounter()
                              .Name("drover_history_partitions_dropped_total")
                              .Help("Time partitions of update history or audit trail dropped past their "
                                    "retention, by table")
                              .Register(*registry_)),
      retention_success_(Gauge(*registry_, "drover_retention_last_success_timestamp_seconds",
                               "When this replica last ran retention to the end (0: never; only the leader runs "
                               "it)")
                             .Add({})),
      rpcs_(prometheus::BuildCounter()
                .Name("drover_rpc_requests_total")
                .Help("gRPC requests handled, by method and status code")
                .Register(*registry_)),
      refresh_errors_(prometheus::BuildCounter()
                          .Name("drover_fleet_refresh_errors_total")
                          .Help("Failed refreshes of the fleet gauges")
                          .Register(*registry_)
                          .Add({})),
      last_refresh_(Gauge(*registry_, "drover_fleet_refresh_timestamp_seconds",
                          "When the fleet gauges were last refreshed")
                        .Add({})),
      db_retries_(prometheus::BuildCounter()
                      .Name("drover_database_retries_total")
                      .Help("Transactions run again after a serialization failure, deadlock or lost race")
                      .Register(*registry_)
                      .Add({})),
      db_watchdog_closes_(prometheus::BuildCounter()
                              .Name("drover_database_watchdog_closes_total")
                              .Help("Database connections closed because PostgreSQL sent nothing for "
                                    "--db_statement_timeout plus 5 s while a statement waited (a frozen server)")
                              .Register(*registry_)
                              .Add({})),
      db_read_fallbacks_(prometheus::BuildCounter()
                             .Name("drover_database_read_fallbacks_total")
                             .Help("Reads meant for the read replica (--database_read_url) that went to the "
                                   "primary because the replica could not be reached")
                             .Register(*registry_)
                             .Add({})),
      db_up_(Gauge(*registry_, "drover_database_up", "1 when the last fleet refresh reached PostgreSQL").Add({})),
      agents_(Gauge(*registry_, "drover_agents", "Agents by channel, version and health")),
      agents_total_(Gauge(*registry_, "drover_channel_agents", "Agents per channel")),
      on_target_(Gauge(*registry_, "drover_agents_on_target", "Agents running their channel's target version")),
      on_target_ratio_(Gauge(*registry_, "drover_channel_on_target_ratio",
                             "Share of a channel's agents on its target version, 0..1")),
      stale_(Gauge(*registry_, "drover_agents_stale", "Agents not heard from within 3 poll intervals")),
      out_of_policy_(Gauge(*registry_, "drover_agents_out_of_policy",
                           "Agents whose version breaks their channel's version rules")),
      unhealthy_(Gauge(*registry_, "drover_agents_unhealthy", "Agents reporting unhealthy")),
      target_info_(Gauge(*registry_, "drover_channel_target_info",
                         "Always 1; labels carry the channel's target and control-plane versions")),
      critical_(Gauge(*registry_, "drover_channel_critical", "1 while the channel's critical toggle is raised")),
      target_time_(Gauge(*registry_, "drover_channel_target_update_timestamp_seconds",
                         "When the channel's target was last set")),
      since_target_(Gauge(*registry_, "drover_channel_outcomes_since_target",
                          "Update outcomes recorded since the channel's target was set, by result")),
      schedule_states_(Gauge(*registry_, "drover_agents_schedule_state",
                             "Agents by channel and the schedule state their updater reports")),
      instance_conflicts_(Gauge(*registry_, "drover_agents_instance_conflict",
                                "Agents whose host id is reported by two updater instances (a cloned id)")),
      orphaned_hosts_(Gauge(*registry_, "drover_orphaned_hosts",
                            "Hosts whose latest report, within the last hour, names a channel that does not exist")
                          .Add({})),
      refused_(prometheus::BuildCounter()
                   .Name("drover_requests_refused_total")
                   .Help("Requests refused by an abuse limit, by reason: report_rate (--report_rate_per_host), "
                         "get_target_rate (--get_target_rate_per_peer), max_channels (--max_channels)")
                   .Register(*registry_)),
      versions_folded_(Gauge(*registry_, "drover_metric_versions_folded",
                             "Distinct agent versions exported as version=\"other\" at the last refresh "
                             "(beyond --max_version_labels)")
                           .Add({})) {
  for (const char* reason : {"report_rate", "get_target_rate", "max_channels"}) refused_.Add({{"reason", reason}});
  for (const char* result : {"accepted", "duplicate", "out_of_order", "invalid", "unknown_channel", "unavailable", "too_large",
                             "sequence_too_far_ahead", "rate_limited", "queue_full", "heartbeat"}) {
    report_counters_.push_back(&reports_.Add({{"result", result}}));
  }
  Gauge(*registry_, "drover_build_info", "Always 1; labels carry the build")
      .Add({{"version", std::move(version)}, {"revision", std::move(revision)}})
      .Set(1);
}

void FleetMetrics::CountReport(ReportOutcome outcome) { report_counters_[static_cast<int>(outcome)]->Increment(); }

void FleetMetrics::CountOutcome(const std::string& channel, rollout::UpdateResult result) {
  outcomes_.Add({{"channel", channel}, {"result", ResultLabel(result)}}).Increment();
}

void FleetMetrics::ObserveBatch(size_t size, absl::Duration commit_duration) {
  batch_size_.Observe(static_cast<double>(size));
  batch_commit_.Observe(absl::ToDoubleSeconds(commit_duration));
}

void FleetMetrics::CountDatabaseError(const std::string& operation) {
  db_errors_.Add({{"operation", operation}}).Increment();
}

void FleetMetrics::SetQueueDepth(size_t depth) { queue_depth_.Set(static_cast<double>(depth)); }

void FleetMetrics::ObserveLivenessFlush(size_t written, absl::Duration took, bool ok) {
  liveness_flush_.Observe(absl::ToDoubleSeconds(took));
  liveness_written_.Increment(static_cast<double>(written));
  if (!ok) liveness_flush_failures_.Increment();
}

void FleetMetrics::CountAgentsForgotten(int64_t n) {
  if (n > 0) agents_forgotten_.Increment(static_cast<double>(n));
}

void FleetMetrics::CountPartitionsDropped(const std::string& table, int64_t n) {
  partitions_dropped_.Add({{"table", table}}).Increment(static_cast<double>(std::max<int64_t>(n, 0)));
}

void FleetMetrics::SetRetentionSuccess(absl::Time at) { retention_success_.Set(static_cast<double>(absl::ToUnixMillis(at)) / 1000); }

void FleetMetrics::SetLiveness(size_t hosts, size_t pending) {
  liveness_hosts_.Set(static_cast<double>(hosts));
  liveness_pending_.Set(static_cast<double>(pending));
}

namespace {
const char* CodeName(int grpc_code) {
  static const char* kCodes[] = {"OK",          "CANCELLED",         "UNKNOWN",          "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED", "NOT_FOUND",   "ALREADY_EXISTS",   "PERMISSION_DENIED",
                                 "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
                                 "UNIMPLEMENTED", "INTERNAL",       "UNAVAILABLE",      "DATA_LOSS",
                                 "UNAUTHENTICATED"};
  return grpc_code >= 0 && grpc_code <= 16 ? kCodes[grpc_code] : "UNKNOWN";
}
}  // namespace

void RpcCounters::Count(int grpc_code) {
  const int i = grpc_code >= 0 && grpc_code <= 16 ? grpc_code : 2;
  prometheus::Counter* c = by_code_[i].load(std::memory_order_acquire);
  if (c == nullptr) {
    // Family::Add returns the same counter for the same labels, so a race
    // here only repeats the lookup.
    c = &family_->Add({{"method", method_}, {"code", CodeName(i)}});
    by_code_[i].store(c, std::memory_order_release);
  }
  c->Increment();
}

RpcCounters* FleetMetrics::RpcCountersFor(const std::string& method) {
  std::lock_guard<std::mutex> lock(rpc_mu_);
  std::unique_ptr<RpcCounters>& slot = rpc_counters_[method];
  if (slot == nullptr) slot = std::make_unique<RpcCounters>(&rpcs_, method);
  return slot.get();
}

void FleetMetrics::CountRpc(const std::string& method, int grpc_code) { RpcCountersFor(method)->Count(grpc_code); }

void FleetMetrics::CountRefreshError() { refresh_errors_.Increment(); }

void FleetMetrics::SetDatabaseRetries(int64_t total) { RaiseTo(db_retries_, total); }

void FleetMetrics::SetDatabaseWatchdogCloses(int64_t total) { RaiseTo(db_watchdog_closes_, total); }

void FleetMetrics::SetDatabaseReadFallbacks(int64_t total) { RaiseTo(db_read_fallbacks_, total); }

void FleetMetrics::SetDatabaseUp(bool up) { db_up_.Set(up ? 1 : 0); }

void FleetMetrics::CountRefusal(const std::string& reason) { refused_.Add({{"reason", reason}}).Increment(); }

void FleetMetrics::ReplaceGauges(prometheus::Family<prometheus::Gauge>& family,
                                 std::map<std::map<std::string, std::string>, prometheus::Gauge*>& current,
                                 const std::map<std::map<std::string, std::string>, double>& values) {
  for (auto it = current.begin(); it != current.end();) {
    if (!values.contains(it->first)) {
      family.Remove(it->second);
      it = current.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [labels, value] : values) {
    auto [it, inserted] = current.try_emplace(labels, nullptr);
    if (inserted) it->second = &family.Add(labels);
    it->second->Set(value);
  }
}

void FleetMetrics::UpdateFleet(const std::vector<store::RolloutInputs>& inputs, absl::Time now) {
  using Labels = std::map<std::string, std::string>;
  std::map<Labels, double> agents, total, on_target, ratio, stale, oop, unhealthy, info, critical, target_time,
      since;
  std::vector<rollout::RolloutStatus> statuses;
  statuses.reserve(inputs.size());
  std::map<std::string, int64_t> agents_by_version;
  std::set<std::string> pinned;
  for (const store::RolloutInputs& in : inputs) {
    statuses.push_back(
        rollout::ComputeRolloutStatus(in.channel, in.counts, in.outcomes_since_target, in.stale_agents));
    for (const rollout::VersionSummary& v : statuses.back().versions) {
      agents_by_version[v.version] += v.healthy + v.unhealthy;
    }
    if (in.channel.target_version) pinned.insert(*in.channel.target_version);
    pinned.insert(in.channel.control_plane_version);
  }
  const VersionLabels labels(agents_by_version, pinned, max_version_labels_.load());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const store::RolloutInputs& in = inputs[i];
    const rollout::RolloutStatus& s = statuses[i];
    const std::string& ch = in.channel.id;
    for (const rollout::VersionSummary& v : s.versions) {
      const std::string& version = labels.LabelFor(v.version);
      if (v.healthy > 0) agents[{{"channel", ch}, {"version", version}, {"health", "healthy"}}] += v.healthy;
      if (v.unhealthy > 0) agents[{{"channel", ch}, {"version", version}, {"health", "unhealthy"}}] += v.unhealthy;
    }
    total[{{"channel", ch}}] = s.total_agents;
    on_target[{{"channel", ch}}] = s.on_target;
    ratio[{{"channel", ch}}] = s.percent_on_target / 100.0;
    stale[{{"channel", ch}}] = s.stale;
    oop[{{"channel", ch}}] = s.out_of_policy;
    unhealthy[{{"channel", ch}}] = s.unhealthy;
    info[{{"channel", ch},
          {"target_version", in.channel.target_version.value_or("none")},
          {"control_plane_version", in.channel.control_plane_version}}] = 1;
    critical[{{"channel", ch}}] = in.channel.critical ? 1 : 0;
    if (in.channel.target_updated_at) {
      target_time[{{"channel", ch}}] = absl::ToDoubleSeconds(*in.channel.target_updated_at - absl::UnixEpoch());
    }
    since[{{"channel", ch}, {"result", "succeeded"}}] = s.succeeded_since_target;
    since[{{"channel", ch}, {"result", "failed"}}] = s.failed_since_target;
    since[{{"channel", ch}, {"result", "rolled_back"}}] = s.rolled_back_since_target;
  }
  std::lock_guard<std::mutex> lock(fleet_mu_);
  ReplaceGauges(agents_, fleet_current_[&agents_], agents);
  ReplaceGauges(agents_total_, fleet_current_[&agents_total_], total);
  ReplaceGauges(on_target_, fleet_current_[&on_target_], on_target);
  ReplaceGauges(on_target_ratio_, fleet_current_[&on_target_ratio_], ratio);
  ReplaceGauges(stale_, fleet_current_[&stale_], stale);
  ReplaceGauges(out_of_policy_, fleet_current_[&out_of_policy_], oop);
  ReplaceGauges(unhealthy_, fleet_current_[&unhealthy_], unhealthy);
  ReplaceGauges(target_info_, fleet_current_[&target_info_], info);
  ReplaceGauges(critical_, fleet_current_[&critical_], critical);
  ReplaceGauges(target_time_, fleet_current_[&target_time_], target_time);
  ReplaceGauges(since_target_, fleet_current_[&since_target_], since);
  versions_folded_.Set(static_cast<double>(labels.folded()));
  last_refresh_.Set(absl::ToDoubleSeconds(now - absl::UnixEpoch()));
}

void FleetMetrics::UpdateVisibility(const std::vector<store::RolloutInputs>& inputs, int64_t orphaned_hosts) {
  using Labels = std::map<std::string, std::string>;
  std::map<Labels, double> states, conflicts;
  for (const store::RolloutInputs& in : inputs) {
    const std::string& ch = in.channel.id;
    for (const rollout::ScheduleStateCount& c : in.schedule_states) {
      states[{{"channel", ch}, {"state", rollout::ScheduleStateName(c.state)}}] = static_cast<double>(c.agents);
    }
    conflicts[{{"channel", ch}}] = static_cast<double>(in.instance_conflicts);
  }
  std::lock_guard<std::mutex> lock(fleet_mu_);
  ReplaceGauges(schedule_states_, fleet_current_[&schedule_states_], states);
  ReplaceGauges(instance_conflicts_, fleet_current_[&instance_conflicts_], conflicts);
  orphaned_hosts_.Set(static_cast<double>(orphaned_hosts));
}

}  // namespace drover::metrics
