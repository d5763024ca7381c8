// droverctl's connection to the coordinator's OperatorService: one RPC per
// call, each with its own deadline, so no command can hang.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "drover/v1/operator_service.grpc.pb.h"
#include "drover/v1/trust_service.grpc.pb.h"

namespace drover::cli {

namespace v1 = ::drover::v1;

struct GlobalOptions;

// TLS verifying the coordinator against options.ca_file (or the system's
// CAs), or plaintext with options.insecure. InvalidArgument for both, or an
// unreadable CA file.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(const GlobalOptions& options);

class OperatorClient {
 public:
  // `token`: the operator token sent with every call ("" for none).
  OperatorClient(std::string address, absl::Duration timeout,
                 std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials(),
                 std::string token = "");

  const std::string& address() const { return address_; }

  // Drops the connection so the next call connects afresh, instead of waiting
  // out gRPC's reconnect backoff (which grows to minutes) after an outage.
  void Reconnect() {
    stub_.reset();
    trust_stub_.reset();
    channel_.reset();
  }

  grpc::Status CreateChannel(const v1::CreateChannelRequest& req, v1::Channel* out);
  grpc::Status ListChannels(const v1::ListChannelsRequest& req, v1::ListChannelsResponse* out);
  grpc::Status GetChannel(const v1::GetChannelRequest& req, v1::Channel* out);
  grpc::Status DeleteChannel(const v1::DeleteChannelRequest& req, v1::DeleteChannelResponse* out);
  grpc::Status SetTargetVersion(const v1::SetTargetVersionRequest& req, v1::Channel* out);
  grpc::Status SetCritical(const v1::SetCriticalRequest& req, v1::Channel* out);
  grpc::Status SetControlPlaneVersion(const v1::SetControlPlaneVersionRequest& req, v1::Channel* out);
  grpc::Status SetMaintenanceWindows(const v1::SetMaintenanceWindowsRequest& req, v1::Channel* out);
  grpc::Status SetPollInterval(const v1::SetPollIntervalRequest& req, v1::Channel* out);
  grpc::Status GetRolloutStatus(const v1::GetRolloutStatusRequest& req, v1::RolloutStatus* out);
  grpc::Status GetRollout(const v1::GetRolloutRequest& req, v1::Rollout* out);
  grpc::Status ControlRollout(const v1::ControlRolloutRequest& req, v1::Rollout* out);
  grpc::Status GetRolloutPolicy(const v1::GetRolloutPolicyRequest& req, v1::RolloutPolicy* out);
  grpc::Status SetRolloutPolicy(const v1::SetRolloutPolicyRequest& req, v1::RolloutPolicy* out);
  grpc::Status ListAgents(const v1::ListAgentsRequest& req, v1::ListAgentsResponse* out);
  grpc::Status GetAgent(const v1::GetAgentRequest& req, v1::Agent* out);
  grpc::Status ForgetAgent(const v1::ForgetAgentRequest& req, v1::ForgetAgentResponse* out);
  grpc::Status ListUpdateEvents(const v1::ListUpdateEventsRequest& req, v1::ListUpdateEventsResponse* out);
  grpc::Status ListChannelChanges(const v1::ListChannelChangesRequest& req, v1::ListChannelChangesResponse* out);
  grpc::Status CreateOperator(const v1::CreateOperatorRequest& req, v1::CreateOperatorResponse* out);
  grpc::Status ListOperators(const v1::ListOperatorsRequest& req, v1::ListOperatorsResponse* out);
  grpc::Status RevokeOperator(const v1::RevokeOperatorRequest& req, v1::Operator* out);
  grpc::Status ListAuditEvents(const v1::ListAuditEventsRequest& req, v1::ListAuditEventsResponse* out);
  grpc::Status CreateJoinToken(const v1::CreateJoinTokenRequest& req, v1::CreateJoinTokenResponse* out);
  grpc::Status RevokeAgent(const v1::RevokeAgentRequest& req, v1::RevokeAgentResponse* out);
  // drover.v1.TrustService, on the same connection.
  grpc::Status PublishTrustMetadata(const v1::PublishTrustMetadataRequest& req, v1::TrustMetadata* out);
  grpc::Status GetTrustMetadata(const v1::GetTrustMetadataRequest& req, v1::TrustMetadata* out);

 private:
  template <typename Request, typename Response>
  grpc::Status Call(grpc::Status (v1::OperatorService::Stub::*method)(grpc::ClientContext*, const Request&,
                                                                     Response*),
                    const Request& req, Response* out);

  // The stub is made on first use, so commands that fail locally never connect.
  v1::OperatorService::Stub* stub();
  std::shared_ptr<grpc::Channel> channel();

  std::string address_;
  absl::Duration timeout_;
  std::shared_ptr<grpc::ChannelCredentials> credentials_;
  std::string token_;
  std::unique_ptr<v1::OperatorService::Stub> stub_;
  std::unique_ptr<v1::TrustService::Stub> trust_stub_;
  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace drover::cli
