// gRPC transport of the operator API. Rules live in rollout/channel_rules,
// storage behind the store interfaces; this file validates and converts.
//
// The service registers its methods itself, each taking the encoded request
// (see ParseRequest): a request protobuf refuses is INVALID_ARGUMENT naming
// the field, not gRPC's bare INTERNAL. Names and types come from the
// generated descriptors, so reflection serves it as usual.
#pragma once

#include <deque>
#include <string>

#include "common/clock.h"
#include "coordinator/api/rpc_log.h"
#include "coordinator/metrics/fleet_metrics.h"
#include "coordinator/store/channel_cache.h"
#include "coordinator/store/store.h"
#include "drover/v1/operator_service.grpc.pb.h"

namespace drover::api {

class OperatorService final : public grpc::Service {
 public:
  OperatorService(store::ChannelStore* channels, store::AgentStore* agents, store::ChannelCache* cache,
                  metrics::FleetMetrics* metrics, const Clock* clock, size_t max_request_bytes,
                  RpcLog* log);

  grpc::Status CreateChannel(grpc::ServerContext*, const v1::CreateChannelRequest*, v1::Channel*);
  grpc::Status ListChannels(grpc::ServerContext*, const v1::ListChannelsRequest*,
                            v1::ListChannelsResponse*);
  grpc::Status GetChannel(grpc::ServerContext*, const v1::GetChannelRequest*, v1::Channel*);
  grpc::Status DeleteChannel(grpc::ServerContext*, const v1::DeleteChannelRequest*,
                             v1::DeleteChannelResponse*);
  grpc::Status SetTargetVersion(grpc::ServerContext*, const v1::SetTargetVersionRequest*, v1::Channel*);
  grpc::Status SetCritical(grpc::ServerContext*, const v1::SetCriticalRequest*, v1::Channel*);
  grpc::Status SetControlPlaneVersion(grpc::ServerContext*, const v1::SetControlPlaneVersionRequest*,
                                      v1::Channel*);
  grpc::Status SetMaintenanceWindows(grpc::ServerContext*, const v1::SetMaintenanceWindowsRequest*,
                                     v1::Channel*);
  grpc::Status SetPollInterval(grpc::ServerContext*, const v1::SetPollIntervalRequest*, v1::Channel*);
  grpc::Status GetRolloutStatus(grpc::ServerContext*, const v1::GetRolloutStatusRequest*,
                                v1::RolloutStatus*);
  grpc::Status ListAgents(grpc::ServerContext*, const v1::ListAgentsRequest*, v1::ListAgentsResponse*);
  grpc::Status GetAgent(grpc::ServerContext*, const v1::GetAgentRequest*, v1::Agent*);
  grpc::Status ListUpdateEvents(grpc::ServerContext*, const v1::ListUpdateEventsRequest*,
                                v1::ListUpdateEventsResponse*);
  grpc::Status ListChannelChanges(grpc::ServerContext*, const v1::ListChannelChangesRequest*,
                                  v1::ListChannelChangesResponse*);

 private:
  // Registers `method` of drover.v1.OperatorService as `fn`.
  template <typename Request, typename Response>
  void Register(const char* method,
                grpc::Status (OperatorService::*fn)(grpc::ServerContext*, const Request*, Response*));

  grpc::Status Done(const char* method, const absl::Status& status);
  // Applies a mutation to a channel, logs what it changed and answers with
  // the result.
  absl::Status Mutate(grpc::ServerContext* context, const std::string& name, const store::ChannelMutation& mutate,
                      v1::Channel* out);

  store::ChannelStore* const channels_;
  store::AgentStore* const agents_;
  store::ChannelCache* const cache_;
  metrics::FleetMetrics* const metrics_;
  const Clock* const clock_;
  const size_t max_request_bytes_;
  RpcLog* const log_;
  std::deque<std::string> paths_;  // "/drover.v1.OperatorService/Method", as gRPC keeps a pointer
};

}  // namespace drover::api
