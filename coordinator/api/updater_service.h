// gRPC transport of the updater API: targets from the channel cache, reports
// through the group-commit batcher (answered once durably committed), and
// Sync, both in one round trip with the interval before the next one.
// All methods take the encoded request and parse it with ParseRequest, so
// a request protobuf refuses is INVALID_ARGUMENT naming the field, counted
// as invalid.
#pragma once

#include <atomic>
#include <functional>

#include "common/clock.h"
#include "common/rate_limiter.h"
#include "coordinator/api/host_identity.h"
#include "coordinator/api/rpc_log.h"
#include "coordinator/api/target_signer.h"
#include "coordinator/ingest/report_batcher.h"
#include "coordinator/metrics/fleet_metrics.h"
#include "coordinator/rollout/pacing.h"
#include "coordinator/store/channel_cache.h"
#include "coordinator/store/rollout_cache.h"
#include "drover/v1/updater_service.grpc.pb.h"

namespace drover::api {

using UpdaterServiceBase = ::drover::v1::UpdaterService::WithRawCallbackMethod_GetTarget<
    ::drover::v1::UpdaterService::WithRawCallbackMethod_ReportStatus<
        ::drover::v1::UpdaterService::WithRawCallbackMethod_Sync<::drover::v1::UpdaterService::Service>>>;

class UpdaterService final : public UpdaterServiceBase {
 public:
  UpdaterService(store::ChannelCache* channels, ingest::ReportBatcher* batcher, metrics::FleetMetrics* metrics,
                 const Clock* clock, size_t max_request_bytes, RpcLog* log,
                 HostAuthenticator* hosts = nullptr)
      : max_request_bytes_(max_request_bytes),
        channels_(channels),
        batcher_(batcher),
        metrics_(metrics),
        clock_(clock),
        get_target_rpcs_(metrics->RpcCountersFor("GetTarget")),
        report_rpcs_(metrics->RpcCountersFor("ReportStatus")),
        sync_rpcs_(metrics->RpcCountersFor("Sync")),
        log_(log),
        hosts_(hosts) {}

  // Abuse limits (not owned; null: none). Reports are limited per host id
  // (the caller's identity: a string key, the certificate's host once
  // updaters authenticate), targets per peer address.
  struct Limits {
    KeyedRateLimiter* reports_per_host = nullptr;
    KeyedRateLimiter* targets_per_peer = nullptr;
  };
  void set_limits(Limits limits) { limits_ = limits; }

  // Answers carry signed metadata from `signer` once set (before serving).
  void set_signer(TargetSigner* signer) { signer_ = signer; }
  // Per-host answers of staged rollouts (rollout::TargetFor). Without it
  // every host gets the channel's target.
  void set_rollouts(store::RolloutCache* rollouts) { rollouts_ = rollouts; }

  // How Sync answers pick the next interval (rollout/pacing.h).
  struct Pacing {
    // Polls per second this replica sustains (--sync_target_rate); <= 0:
    // the fleet's size stretches nothing.
    double target_rate = 0;
    // The batcher's bound on waiting reports (--max_queue): the reports
    // this service is waiting on, over it, is the overload signal.
    size_t max_queue = 0;
    // Uniform in [0, 1), for the jitter; null: a thread-local generator.
    std::function<double()> unit;
  };
  void set_pacing(Pacing pacing) { pacing_ = std::move(pacing); }

  grpc::ServerUnaryReactor* GetTarget(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ReportStatus(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Sync(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                 grpc::ByteBuffer* response) override;

 private:
  // The target half, shared by GetTarget and Sync. The per-peer limit:
  absl::Status CheckTargetRate(const grpc::CallbackServerContext& context);
  // The answer for (channel, host_id, group) as the request named them;
  // `field_prefix` ("" or "report.") goes before field names in errors.
  absl::Status AnswerTarget(const std::string& channel, const std::string& host_id, const std::string& group,
                            absl::string_view field_prefix, v1::GetTargetResponse* response);
  // The report half, shared by ReportStatus and Sync. Who reports (with
  // TLS: the certificate's host, once `parse` has read the request), what
  // (ReportFromProto) and how often (per host): the report to submit, or why
  // not, counted (refusal counters, report outcomes) and logged as `method`.
  // `request` is parsed by `parse` after the caller is authenticated.
  absl::StatusOr<rollout::AgentReport> AdmitReport(const grpc::CallbackServerContext& context,
                                                   const std::function<absl::Status()>& parse,
                                                   const v1::ReportStatusRequest& request, absl::string_view method);
  // Submits an admitted report; `done` runs once it is committed (or kept,
  // a heartbeat) or refused: non-OK status, nothing stored.
  using ReportDone = std::function<void(const absl::Status& status, const v1::ReportStatusResponse& response)>;
  void SubmitReport(rollout::AgentReport report, ReportDone done);
  // The interval a Sync answer carries, for a channel polled every `poll`.
  absl::Duration NextSync(absl::Duration poll);

  const size_t max_request_bytes_;
  store::ChannelCache* const channels_;
  ingest::ReportBatcher* const batcher_;
  metrics::FleetMetrics* const metrics_;
  const Clock* const clock_;
  metrics::RpcCounters* const get_target_rpcs_;
  metrics::RpcCounters* const report_rpcs_;
  metrics::RpcCounters* const sync_rpcs_;
  RpcLog* const log_;
  Limits limits_;
  // With TLS: reports only from the host of the client certificate. Null
  // (--insecure): the host id of the request is believed.
  HostAuthenticator* const hosts_;
  TargetSigner* signer_ = nullptr;
  store::RolloutCache* rollouts_ = nullptr;
  Pacing pacing_;
  rollout::ServedHostsMeter served_;
  // Reports submitted and not yet answered (the overload signal).
  std::atomic<int64_t> reports_waiting_{0};
};

}  // namespace drover::api
