#include "cli/client.h"

#include <chrono>

namespace drover::cli {

OperatorClient::OperatorClient(std::string address, absl::Duration timeout)
    : address_(std::move(address)), timeout_(timeout) {}

std::shared_ptr<grpc::Channel> OperatorClient::channel() {
  if (channel_ == nullptr) channel_ = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
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
grpc::Status OperatorClient::ListAgents(const v1::ListAgentsRequest& req, v1::ListAgentsResponse* out) {
  return Call(&v1::OperatorService::Stub::ListAgents, req, out);
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

grpc::Status OperatorClient::PublishTrustMetadata(const v1::PublishTrustMetadataRequest& req,
                                                  v1::TrustMetadata* out) {
  if (trust_stub_ == nullptr) trust_stub_ = v1::TrustService::NewStub(channel());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout_));
  return trust_stub_->PublishTrustMetadata(&ctx, req, out);
}
grpc::Status OperatorClient::GetTrustMetadata(const v1::GetTrustMetadataRequest& req, v1::TrustMetadata* out) {
  if (trust_stub_ == nullptr) trust_stub_ = v1::TrustService::NewStub(channel());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout_));
  return trust_stub_->GetTrustMetadata(&ctx, req, out);
}

}  // namespace drover::cli
