// gRPC transport of the updater API: targets from the channel cache, reports
// through the group-commit batcher (answered once durably committed).
// Both methods take the encoded request and parse it with ParseRequest, so
// a request protobuf refuses is INVALID_ARGUMENT naming the field, counted
// as invalid.
#pragma once

#include "common/clock.h"
#include "common/rate_limiter.h"
#include "coordinator/api/host_identity.h"
#include "coordinator/api/rpc_log.h"
#include "coordinator/api/target_signer.h"
#include "coordinator/ingest/report_batcher.h"
#include "coordinator/metrics/fleet_metrics.h"
#include "coordinator/store/channel_cache.h"
#include "coordinator/store/rollout_cache.h"
#include "drover/v1/updater_service.grpc.pb.h"

namespace drover::api {

using UpdaterServiceBase = ::drover::v1::UpdaterService::WithRawCallbackMethod_GetTarget<
    ::drover::v1::UpdaterService::WithRawCallbackMethod_ReportStatus<::drover::v1::UpdaterService::Service>>;

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

  grpc::ServerUnaryReactor* GetTarget(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ReportStatus(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;

 private:
  const size_t max_request_bytes_;
  store::ChannelCache* const channels_;
  ingest::ReportBatcher* const batcher_;
  metrics::FleetMetrics* const metrics_;
  const Clock* const clock_;
  metrics::RpcCounters* const get_target_rpcs_;
  metrics::RpcCounters* const report_rpcs_;
  RpcLog* const log_;
  Limits limits_;
  // With TLS: reports only from the host of the client certificate. Null
  // (--insecure): the host id of the request is believed.
  HostAuthenticator* const hosts_;
  TargetSigner* signer_ = nullptr;
  store::RolloutCache* rollouts_ = nullptr;
};

}  // namespace drover::api
