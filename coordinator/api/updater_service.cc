#include "coordinator/api/updater_service.h"

#include "absl/strings/str_cat.h"
#include "common/rpc_reason.h"
#include "coordinator/api/proto_convert.h"

namespace drover::api {
namespace {
constexpr absl::string_view kGetTarget = "drover.v1.UpdaterService/GetTarget";
constexpr absl::string_view kReportStatus = "drover.v1.UpdaterService/ReportStatus";

absl::Status FromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

// Updaters tell a database outage from an unreachable coordinator by this
// metadata, not by the message text.
void AddReason(grpc::CallbackServerContext* context, const absl::Status& status) {
  if (IsDatabaseUnavailable(status)) {
    context->AddTrailingMetadata(std::string(kReasonKey), std::string(kReasonDatabaseUnavailable));
  }
}
}  // namespace

grpc::ServerUnaryReactor* UpdaterService::GetTarget(grpc::CallbackServerContext* context,
                                                    const grpc::ByteBuffer* request_bytes,
                                                    grpc::ByteBuffer* response_bytes) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  v1::GetTargetRequest request;
  v1::GetTargetResponse response;
  absl::Status status = [&]() -> absl::Status {
    if (absl::Status s = ParseRequest(*request_bytes, max_request_bytes_, &request); !s.ok()) return s;
    absl::StatusOr<std::string> id = ParseChannelName("channel", request.channel());
    if (!id.ok()) return id.status();
    if (!request.host_id().empty()) {
      if (absl::Status s = ValidateHostId("host_id", request.host_id()); !s.ok()) return s;
    }
    if (absl::Status s = ValidateGroup("group", request.group()); !s.ok()) return s;
    absl::StatusOr<rollout::Channel> channel = channels_->Get(*id);
    if (!channel.ok()) return channel.status();
    TargetToProto(*channel, clock_->Now(), &response);
    if (signer_ != nullptr) {
      absl::StatusOr<v1::SignedTargetMetadata> signed_metadata = signer_->Get(*id, &*channel);
      if (!signed_metadata.ok()) return signed_metadata.status();
      *response.mutable_signed_metadata() = *std::move(signed_metadata);
    }
    return absl::OkStatus();
  }();
  grpc::Status reply = ToGrpcStatus(status);
  AddReason(context, status);
  if (status.ok()) reply = SerializeResponse(response, response_bytes);
  get_target_rpcs_->Count(static_cast<int>(reply.error_code()));
  if (!reply.ok()) log_->Failed(kGetTarget, FromGrpc(reply), context->peer());
  reactor->Finish(reply);
  return reactor;
}

grpc::ServerUnaryReactor* UpdaterService::ReportStatus(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request_bytes,
                                                       grpc::ByteBuffer* response_bytes) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  v1::ReportStatusRequest request;
  absl::StatusOr<rollout::AgentReport> report = [&]() -> absl::StatusOr<rollout::AgentReport> {
    if (absl::Status s = ParseRequest(*request_bytes, max_request_bytes_, &request); !s.ok()) return s;
    return ReportFromProto(request, clock_->Now());
  }();
  if (!report.ok()) {
    metrics_->CountReport(report.status().code() == absl::StatusCode::kResourceExhausted
                              ? metrics::ReportOutcome::kTooLarge
                              : metrics::ReportOutcome::kInvalid);
    report_rpcs_->Count(static_cast<int>(report.status().code()));
    log_->Failed(kReportStatus, report.status(), context->peer());
    reactor->Finish(ToGrpcStatus(report.status()));
    return reactor;
  }
  batcher_->Submit(*std::move(report), [reactor, response_bytes, rpcs = report_rpcs_, log = log_, context](
                                           const absl::Status& status, const store::ReportResult& result) {
    grpc::Status reply = ToGrpcStatus(status);
    AddReason(context, status);
    if (status.ok()) {
      v1::ReportStatusResponse response;
      switch (result.disposition) {
        case rollout::ReportDisposition::kAccepted:
          response.set_disposition(v1::ReportStatusResponse::DISPOSITION_ACCEPTED);
          break;
        case rollout::ReportDisposition::kDuplicate:
          response.set_disposition(v1::ReportStatusResponse::DISPOSITION_DUPLICATE);
          break;
        case rollout::ReportDisposition::kOutOfOrder:
          response.set_disposition(v1::ReportStatusResponse::DISPOSITION_OUT_OF_ORDER);
          break;
      }
      response.set_stored_sequence(result.stored_sequence);
      reply = SerializeResponse(response, response_bytes);
    }
    rpcs->Count(static_cast<int>(reply.error_code()));
    if (!reply.ok()) log->Failed(kReportStatus, FromGrpc(reply), context->peer());
    reactor->Finish(reply);
  });
  return reactor;
}

}  // namespace drover::api
