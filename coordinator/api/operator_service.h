// gRPC transport of the operator API. Rules live in rollout/channel_rules,
// storage behind the store interfaces; this file validates and converts.
//
// Every method is a raw callback method (gRPC's generated
// WithRawCallbackMethod_*), taking the encoded request (see ParseRequest): a
// request protobuf refuses is INVALID_ARGUMENT naming the field, not gRPC's
// bare INTERNAL. The service is the generated one, so reflection serves it as
// usual. The typed handlers below block on the database, so each call runs on
// a thread of its own, as it did on the synchronous server, never on one of
// gRPC's callback threads.
#pragma once

#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "coordinator/api/authz.h"
#include "coordinator/api/host_identity.h"
#include "coordinator/api/refusal_audit.h"
#include "coordinator/api/rpc_log.h"
#include "coordinator/metrics/fleet_metrics.h"
#include "coordinator/store/channel_cache.h"
#include "coordinator/store/identity_store.h"
#include "coordinator/store/rollout_store.h"
#include "coordinator/store/store.h"
#include "drover/v1/operator_service.grpc.pb.h"

namespace drover::api {

// The RPCs of drover.v1.OperatorService: X(Method, Request, Response).
#define DROVER_OPERATOR_RPCS(X)                                          \
  X(CreateChannel, CreateChannelRequest, Channel)                        \
  X(ListChannels, ListChannelsRequest, ListChannelsResponse)             \
  X(GetChannel, GetChannelRequest, Channel)                              \
  X(DeleteChannel, DeleteChannelRequest, DeleteChannelResponse)          \
  X(SetTargetVersion, SetTargetVersionRequest, Channel)                  \
  X(SetCritical, SetCriticalRequest, Channel)                            \
  X(SetControlPlaneVersion, SetControlPlaneVersionRequest, Channel)      \
  X(SetMaintenanceWindows, SetMaintenanceWindowsRequest, Channel)        \
  X(SetPollInterval, SetPollIntervalRequest, Channel)                    \
  X(GetRolloutStatus, GetRolloutStatusRequest, RolloutStatus)            \
  X(GetRollout, GetRolloutRequest, Rollout)                              \
  X(ControlRollout, ControlRolloutRequest, Rollout)                      \
  X(GetRolloutPolicy, GetRolloutPolicyRequest, RolloutPolicy)            \
  X(SetRolloutPolicy, SetRolloutPolicyRequest, RolloutPolicy)            \
  X(ListAgents, ListAgentsRequest, ListAgentsResponse)                   \
  X(GetAgent, GetAgentRequest, Agent)                                    \
  X(ListUpdateEvents, ListUpdateEventsRequest, ListUpdateEventsResponse) \
  X(ListChannelChanges, ListChannelChangesRequest, ListChannelChangesResponse) \
  X(ForgetAgent, ForgetAgentRequest, ForgetAgentResponse)                 \
  X(CreateOperator, CreateOperatorRequest, CreateOperatorResponse)       \
  X(ListOperators, ListOperatorsRequest, ListOperatorsResponse)          \
  X(RevokeOperator, RevokeOperatorRequest, Operator)                     \
  X(ListAuditEvents, ListAuditEventsRequest, ListAuditEventsResponse)    \
  X(CreateJoinToken, CreateJoinTokenRequest, CreateJoinTokenResponse)          \
  X(RevokeAgent, RevokeAgentRequest, RevokeAgentResponse)

using OperatorServiceBase = v1::OperatorService::WithRawCallbackMethod_CreateChannel<
    v1::OperatorService::WithRawCallbackMethod_ListChannels<
    v1::OperatorService::WithRawCallbackMethod_GetChannel<
    v1::OperatorService::WithRawCallbackMethod_DeleteChannel<
    v1::OperatorService::WithRawCallbackMethod_SetTargetVersion<
    v1::OperatorService::WithRawCallbackMethod_SetCritical<
    v1::OperatorService::WithRawCallbackMethod_SetControlPlaneVersion<
    v1::OperatorService::WithRawCallbackMethod_SetMaintenanceWindows<
    v1::OperatorService::WithRawCallbackMethod_SetPollInterval<
    v1::OperatorService::WithRawCallbackMethod_GetRolloutStatus<
    v1::OperatorService::WithRawCallbackMethod_GetRollout<
    v1::OperatorService::WithRawCallbackMethod_ControlRollout<
    v1::OperatorService::WithRawCallbackMethod_GetRolloutPolicy<
    v1::OperatorService::WithRawCallbackMethod_SetRolloutPolicy<
    v1::OperatorService::WithRawCallbackMethod_ListAgents<
    v1::OperatorService::WithRawCallbackMethod_GetAgent<
    v1::OperatorService::WithRawCallbackMethod_ListUpdateEvents<
    v1::OperatorService::WithRawCallbackMethod_ListChannelChanges<
    v1::OperatorService::WithRawCallbackMethod_ForgetAgent<
    v1::OperatorService::WithRawCallbackMethod_CreateOperator<
    v1::OperatorService::WithRawCallbackMethod_ListOperators<
    v1::OperatorService::WithRawCallbackMethod_RevokeOperator<
    v1::OperatorService::WithRawCallbackMethod_ListAuditEvents<
    v1::OperatorService::WithRawCallbackMethod_CreateJoinToken<
    v1::OperatorService::WithRawCallbackMethod_RevokeAgent<
    v1::OperatorService::Service>>>>>>>>>>>>>>>>>>>>>>>>>;

class OperatorService final : public OperatorServiceBase {
 public:
  // Every call is authorized by `authz` first (authz.h); mutations and
  // refused mutations go to `audit`.
  OperatorService(store::ChannelStore* channels, store::AgentStore* agents, store::ChannelCache* cache,
                  metrics::FleetMetrics* metrics, const Clock* clock, size_t max_request_bytes,
                  RpcLog* log, Authorizer* authz, store::AuditStore* audit, store::OperatorStore* operators,
                  store::IdentityStore* identities = nullptr, RevocationList* revocations = nullptr);

  grpc::Status CreateChannel(grpc::ServerContextBase*, const v1::CreateChannelRequest*, v1::Channel*);
  grpc::Status ListChannels(grpc::ServerContextBase*, const v1::ListChannelsRequest*,
                            v1::ListChannelsResponse*);
  grpc::Status GetChannel(grpc::ServerContextBase*, const v1::GetChannelRequest*, v1::Channel*);
  grpc::Status DeleteChannel(grpc::ServerContextBase*, const v1::DeleteChannelRequest*,
                             v1::DeleteChannelResponse*);
  grpc::Status SetTargetVersion(grpc::ServerContextBase*, const v1::SetTargetVersionRequest*, v1::Channel*);
  grpc::Status SetCritical(grpc::ServerContextBase*, const v1::SetCriticalRequest*, v1::Channel*);
  grpc::Status SetControlPlaneVersion(grpc::ServerContextBase*, const v1::SetControlPlaneVersionRequest*,
                                      v1::Channel*);
  grpc::Status SetMaintenanceWindows(grpc::ServerContextBase*, const v1::SetMaintenanceWindowsRequest*,
                                     v1::Channel*);
  grpc::Status SetPollInterval(grpc::ServerContextBase*, const v1::SetPollIntervalRequest*, v1::Channel*);
  grpc::Status GetRolloutStatus(grpc::ServerContextBase*, const v1::GetRolloutStatusRequest*,
                                v1::RolloutStatus*);
  // Staged rollouts (operator_rollouts.cc).
  grpc::Status GetRollout(grpc::ServerContextBase*, const v1::GetRolloutRequest*, v1::Rollout*);
  grpc::Status ControlRollout(grpc::ServerContextBase*, const v1::ControlRolloutRequest*, v1::Rollout*);
  grpc::Status GetRolloutPolicy(grpc::ServerContextBase*, const v1::GetRolloutPolicyRequest*, v1::RolloutPolicy*);
  grpc::Status SetRolloutPolicy(grpc::ServerContextBase*, const v1::SetRolloutPolicyRequest*, v1::RolloutPolicy*);
  // The store of rollouts; without one the rollout RPCs are UNIMPLEMENTED.
  void set_rollouts(store::RolloutStore* rollouts) { rollouts_ = rollouts; }
  grpc::Status ListAgents(grpc::ServerContextBase*, const v1::ListAgentsRequest*, v1::ListAgentsResponse*);
  grpc::Status GetAgent(grpc::ServerContextBase*, const v1::GetAgentRequest*, v1::Agent*);
  grpc::Status ListUpdateEvents(grpc::ServerContextBase*, const v1::ListUpdateEventsRequest*,
                                v1::ListUpdateEventsResponse*);
  grpc::Status ListChannelChanges(grpc::ServerContextBase*, const v1::ListChannelChangesRequest*,
                                  v1::ListChannelChangesResponse*);
  grpc::Status ForgetAgent(grpc::ServerContextBase*, const v1::ForgetAgentRequest*, v1::ForgetAgentResponse*);

  // CreateChannel refuses a channel beyond this many (--max_channels): each
  // costs cache memory, counter rows and metric series. 0: no limit.
  void set_max_channels(size_t max_channels) { max_channels_ = max_channels; }
  // Refusals get audit rows only as far as `gate` admits them (before serving).
  void set_refusal_audit(RefusalAuditGate* gate) { refusal_audit_ = gate; }

  grpc::Status CreateOperator(grpc::ServerContextBase*, const v1::CreateOperatorRequest*,
                              v1::CreateOperatorResponse*);
  grpc::Status ListOperators(grpc::ServerContextBase*, const v1::ListOperatorsRequest*, v1::ListOperatorsResponse*);
  grpc::Status RevokeOperator(grpc::ServerContextBase*, const v1::RevokeOperatorRequest*, v1::Operator*);
  grpc::Status ListAuditEvents(grpc::ServerContextBase*, const v1::ListAuditEventsRequest*,
                               v1::ListAuditEventsResponse*);

  // The audit record of a call being served: who (actor, peer) and which
  // method. Store mutations take it and fill in object, old and new value
  // (store/audit_store.h); handlers of RPCs added later pass it the same way.
  store::AuditRecord AuditOf(grpc::ServerContextBase* context, const char* method);

  // Host identities (operator_identities.cc).
  grpc::Status CreateJoinToken(grpc::ServerContextBase*, const v1::CreateJoinTokenRequest*,
                               v1::CreateJoinTokenResponse*);
  grpc::Status RevokeAgent(grpc::ServerContextBase*, const v1::RevokeAgentRequest*, v1::RevokeAgentResponse*);

  // The raw methods gRPC calls: each parses the request and runs the typed
  // handler above on a thread of its own.
#define DROVER_RAW_METHOD(method, request, response)                                                    \
  grpc::ServerUnaryReactor* method(grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes, \
                                   grpc::ByteBuffer* response_bytes) override;
  DROVER_OPERATOR_RPCS(DROVER_RAW_METHOD)
#undef DROVER_RAW_METHOD

 private:
  // Parses the request, runs `fn` and answers, on a thread of its own.
  template <typename Request, typename Response>
  grpc::ServerUnaryReactor* Serve(
      const char* method, grpc::Status (OperatorService::*fn)(grpc::ServerContextBase*, const Request*, Response*),
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request_bytes, grpc::ByteBuffer* response_bytes);

  grpc::Status Done(const char* method, const absl::Status& status);
  // Applies a mutation to a channel, logs what it changed and answers with
  // the result.
  absl::Status Mutate(grpc::ServerContextBase* context, const char* method, const std::string& name,
                      const store::ChannelMutation& mutate, v1::Channel* out);

  store::ChannelStore* const channels_;
  store::AgentStore* const agents_;
  store::ChannelCache* const cache_;
  metrics::FleetMetrics* const metrics_;
  const Clock* const clock_;
  const size_t max_request_bytes_;
  RpcLog* const log_;
  size_t max_channels_ = 0;
  Authorizer* const authz_;
  store::AuditStore* const audit_;
  RefusalAuditGate* refusal_audit_ = nullptr;
  store::OperatorStore* const operators_;

  // The caller of each call being served, set by Serve once authorized.
  absl::Mutex callers_mu_;
  absl::flat_hash_map<const grpc::ServerContextBase*, Caller> callers_ ABSL_GUARDED_BY(callers_mu_);
  store::IdentityStore* const identities_;
  RevocationList* const revocations_;
  store::RolloutStore* rollouts_ = nullptr;
};

}  // namespace drover::api
