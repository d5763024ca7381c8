// gRPC transport of the operator API. Rules live in rollout/channel_rules,
// storage behind the store interfaces; this file validates and converts.
#pragma once

#include "common/clock.h"
#include "coordinator/metrics/fleet_metrics.h"
#include "coordinator/store/channel_cache.h"
#include "coordinator/store/store.h"
#include "drover/v1/operator_service.grpc.pb.h"

namespace drover::api {

class OperatorService final : public ::drover::v1::OperatorService::Service {
 public:
  OperatorService(store::ChannelStore* channels, store::AgentStore* agents, store::ChannelCache* cache,
                  metrics::FleetMetrics* metrics, const Clock* clock)
      : channels_(channels), agents_(agents), cache_(cache), metrics_(metrics), clock_(clock) {}

  grpc::Status CreateChannel(grpc::ServerContext*, const v1::CreateChannelRequest*, v1::Channel*) override;
  grpc::Status ListChannels(grpc::ServerContext*, const v1::ListChannelsRequest*,
                            v1::ListChannelsResponse*) override;
  grpc::Status GetChannel(grpc::ServerContext*, const v1::GetChannelRequest*, v1::Channel*) override;
  grpc::Status DeleteChannel(grpc::ServerContext*, const v1::DeleteChannelRequest*,
                             v1::DeleteChannelResponse*) override;
  grpc::Status SetTargetVersion(grpc::ServerContext*, const v1::SetTargetVersionRequest*, v1::Channel*) override;
  grpc::Status SetCritical(grpc::ServerContext*, const v1::SetCriticalRequest*, v1::Channel*) override;
  grpc::Status SetControlPlaneVersion(grpc::ServerContext*, const v1::SetControlPlaneVersionRequest*,
                                      v1::Channel*) override;
  grpc::Status SetMaintenanceWindows(grpc::ServerContext*, const v1::SetMaintenanceWindowsRequest*,
                                     v1::Channel*) override;
  grpc::Status GetRolloutStatus(grpc::ServerContext*, const v1::GetRolloutStatusRequest*,
                                v1::RolloutStatus*) override;
  grpc::Status ListAgents(grpc::ServerContext*, const v1::ListAgentsRequest*, v1::ListAgentsResponse*) override;
  grpc::Status GetAgent(grpc::ServerContext*, const v1::GetAgentRequest*, v1::Agent*) override;
  grpc::Status ListUpdateEvents(grpc::ServerContext*, const v1::ListUpdateEventsRequest*,
                                v1::ListUpdateEventsResponse*) override;
  grpc::Status ListChannelChanges(grpc::ServerContext*, const v1::ListChannelChangesRequest*,
                                  v1::ListChannelChangesResponse*) override;

 private:
  grpc::Status Done(const char* method, const absl::Status& status);
  // Applies a mutation to a channel and answers with the result.
  absl::Status Mutate(const std::string& name, const store::ChannelMutation& mutate, v1::Channel* out);

  store::ChannelStore* const channels_;
  store::AgentStore* const agents_;
  store::ChannelCache* const cache_;
  metrics::FleetMetrics* const metrics_;
  const Clock* const clock_;
};

}  // namespace drover::api
