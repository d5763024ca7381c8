#include "cli/client.h"

#include <chrono>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "cli/command.h"

namespace drover::cli {

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentialsFor(const GlobalOptions& options) {
  if (options.insecure) {
    if (!options.ca_file.empty()) {
      return absl::InvalidArgumentError("--insecure and --ca_file (or $DROVER_CA_FILE) exclude each other");
    }
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  if (!options.ca_file.empty()) {
    std::ifstream in(options.ca_file);
    std::stringstream pem;
    pem << in.rdbuf();
    if (!in || pem.str().find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("--ca_file \"", options.ca_file,
                                                     "\" is not a readable PEM certificate file"));
    }
    ssl.pem_root_certs = pem.str();
  }
  return grpc::SslCredentials(ssl);
}

OperatorClient::OperatorClient(std::string address, absl::Duration timeout,
                               std::shared_ptr<grpc::ChannelCredentials> credentials, std::string token)
    : address_(std::move(address)),
      timeout_(timeout),
      credentials_(std::move(credentials)),
      token_(std::move(token)) {}

std::shared_ptr<grpc::Channel> OperatorClient::channel() {
  if (channel_ == nullptr) channel_ = grpc::CreateChannel(address_, credentials_);
  return channel_;
}

v1::OperatorService::Stub* OperatorClient::stub() {
  if (stub_ == nullptr) stub_ = v1::OperatorService::NewStub(channel());
  return stub_.get();
}

template <typename Request, typename Response>
grpc::Status OperatorClient::Call(grpc::Status (v1::OperatorService::Stub::*method)(grpc::ClientContext*,
                                                                                   const Request&, Response*),
                                  const Request& req, Response* out) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout_));
  if (!token_.empty()) ctx.AddMetadata("authorization", "Bearer " + token_);
  return (stub()->*method)(&ctx, req, out);
}

grpc::Status OperatorClient::CreateChannel(const v1::CreateChannelRequest& req, v1::Channel* out) {
  return Call(&v1::OperatorService::Stub::CreateChannel, req, out);
}
grpc::Status OperatorClient::ListChannels(const v1::ListChannelsRequest& req, v1::ListChannelsResponse* out) {
  return Call(&v1::OperatorService::Stub::ListChannels, req, out);
}
grpc::Status OperatorClient::GetChannel(const v1::GetChannelRequest& req, v1::Channel* out) {
  return Call(&v1::OperatorService::Stub::GetChannel, req, out);
}
grpc::Status OperatorClient::DeleteChannel(const v1::DeleteChannelRequest& req, v1::DeleteChannelResponse* out) {
  return Call(&v1::OperatorService::Stub::DeleteChannel, req, out);
}
grpc::Status OperatorClient::SetTargetVersion(const v1::SetTargetVersionRequest& req, v1::Channel* out) {
  return Call(&v1::OperatorService::Stub::SetTargetVersion, req, out);
}
grpc::Status OperatorClient::SetCritical(const v1::SetCriticalRequest& req, v1::Channel* out) {
  return Call(&v1::OperatorService::Stub::SetCritical, req, out);
}
grpc::Status OperatorClient::SetControlPlaneVersion(const v1::SetControlPlaneVersionRequest& req, v1::Channel* out) {
  return Call(&v1::OperatorService::Stub::SetControlPlaneVersion, req, out);
}
grpc::Status OperatorClient::SetMaintenanceWindows(const v1::SetMaintenanceWindowsRequest& req, v1::Channel* out) {
  return Call(&v1::OperatorService::Stub::SetMaintenanceWindows, req, out);
}
grpc::Status OperatorClient::SetPollInterval(const v1::SetPollIntervalRequest& req, v1::Channel* out) {
  return Call(&v1::OperatorService::Stub::SetPollInterval, req, out);
}
grpc::Status OperatorClient::GetRolloutStatus(const v1::GetRolloutStatusRequest& req, v1::RolloutStatus* out) {
  return Call(&v1::OperatorService::Stub::GetRolloutStatus, req, out);
}
grpc::Status OperatorClient::GetRollout(const v1::GetRolloutRequest& req, v1::Rollout* out) {
  return Call(&v1::OperatorService::Stub::GetRollout, req, out);
}
grpc::Status OperatorClient::ControlRollout(const v1::ControlRolloutRequest& req, v1::Rollout* out) {
  return Call(&v1::OperatorService::Stub::ControlRollout, req, out);
}
grpc::Status OperatorClient::GetRolloutPolicy(const v1::GetRolloutPolicyRequest& req, v1::RolloutPolicy* out) {
  return Call(&v1::OperatorService::Stub::GetRolloutPolicy, req, out);
}
grpc::Status OperatorClient::SetRolloutPolicy(const v1::SetRolloutPolicyRequest& req, v1::RolloutPolicy* out) {
  return Call(&v1::OperatorService::Stub::SetRolloutPolicy, req, out);
}
grpc::Status OperatorClient::ListAgents(const v1::ListAgentsRequest& req, v1::ListAgentsResponse* out) {
  return Call(&v1::OperatorService::Stub::ListAgents, req, out);
}
grpc::Status OperatorClient::ForgetAgent(const v1::ForgetAgentRequest& req, v1::ForgetAgentResponse* out) {
  return Call(&v1::OperatorService::Stub::ForgetAgent, req, out);
}
grpc::Status OperatorClient::GetAgent(const v1::GetAgentRequest& req, v1::Agent* out) {
  return Call(&v1::OperatorService::Stub::GetAgent, req, out);
}
grpc::Status OperatorClient::ListUpdateEvents(const v1::ListUpdateEventsRequest& req,
                                              v1::ListUpdateEventsResponse* out) {
  return Call(&v1::OperatorService::Stub::ListUpdateEvents, req, out);
}
grpc::Status OperatorClient::ListChannelChanges(const v1::ListChannelChangesRequest& req,
                                                v1::ListChannelChangesResponse* out) {
  return Call(&v1::OperatorService::Stub::ListChannelChanges, req, out);
}
grpc::Status OperatorClient::CreateOperator(const v1::CreateOperatorRequest& req, v1::CreateOperatorResponse* out) {
  return Call(&v1::OperatorService::Stub::CreateOperator, req, out);
}
grpc::Status OperatorClient::ListOperators(const v1::ListOperatorsRequest& req, v1::ListOperatorsResponse* out) {
  return Call(&v1::OperatorService::Stub::ListOperators, req, out);
}
grpc::Status OperatorClient::RevokeOperator(const v1::RevokeOperatorRequest& req, v1::Operator* out) {
  return Call(&v1::OperatorService::Stub::RevokeOperator, req, out);
}
grpc::Status OperatorClient::ListAuditEvents(const v1::ListAuditEventsRequest& req,
                                             v1::ListAuditEventsResponse* out) {
  return Call(&v1::OperatorService::Stub::ListAuditEvents, req, out);

}
grpc::Status OperatorClient::CreateJoinToken(const v1::CreateJoinTokenRequest& req, v1::CreateJoinTokenResponse* out) {
  return Call(&v1::OperatorService::Stub::CreateJoinToken, req, out);
}
grpc::Status OperatorClient::RevokeAgent(const v1::RevokeAgentRequest& req, v1::RevokeAgentResponse* out) {
  return Call(&v1::OperatorService::Stub::RevokeAgent, req, out);
}

grpc::Status OperatorClient::PublishTrustMetadata(const v1::PublishTrustMetadataRequest& req,
                                                  v1::TrustMetadata* out) {
  if (trust_stub_ == nullptr) trust_stub_ = v1::TrustService::NewStub(channel());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout_));
  if (!token_.empty()) ctx.AddMetadata("authorization", "Bearer " + token_);
  return trust_stub_->PublishTrustMetadata(&ctx, req, out);
}
grpc::Status OperatorClient::GetTrustMetadata(const v1::GetTrustMetadataRequest& req, v1::TrustMetadata* out) {
  if (trust_stub_ == nullptr) trust_stub_ = v1::TrustService::NewStub(channel());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout_));
  if (!token_.empty()) ctx.AddMetadata("authorization", "Bearer " + token_);
  return trust_stub_->GetTrustMetadata(&ctx, req, out);
}

}  // namespace drover::cli
