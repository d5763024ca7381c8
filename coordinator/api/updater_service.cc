#include "coordinator/api/updater_service.h"

#include "coordinator/api/proto_convert.h"

namespace drover::api {

grpc::ServerUnaryReactor* UpdaterService::GetTarget(grpc::CallbackServerContext* context,
                                                    const v1::GetTargetRequest* request,
                                                    v1::GetTargetResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = [&]() -> absl::Status {
    absl::StatusOr<std::string> id = ParseChannelName("channel", request->channel());
    if (!id.ok()) return id.status();
    if (!request->host_id().empty()) {
      if (absl::Status s = ValidateHostId("host_id", request->host_id()); !s.ok()) return s;
    }
    if (absl::Status s = ValidateGroup("group", request->group()); !s.ok()) return s;
    absl::StatusOr<rollout::Channel> channel = channels_->Get(*id);
    if (!channel.ok()) return channel.status();
    TargetToProto(*channel, clock_->Now(), response);
    return absl::OkStatus();
  }();
  get_target_rpcs_->Count(static_cast<int>(status.code()));
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerUnaryReactor* UpdaterService::ReportStatus(grpc::CallbackServerContext* context,
                                                       const v1::ReportStatusRequest* request,
                                                       v1::ReportStatusResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<rollout::AgentReport> report = ReportFromProto(*request, clock_->Now());
  if (!report.ok()) {
    metrics_->CountReport(metrics::ReportOutcome::kInvalid);
    report_rpcs_->Count(static_cast<int>(report.status().code()));
    reactor->Finish(ToGrpcStatus(report.status()));
    return reactor;
  }
  batcher_->Submit(*std::move(report), [reactor, response, rpcs = report_rpcs_](const absl::Status& status,
                                                                                const store::ReportResult& result) {
    if (status.ok()) {
      switch (result.disposition) {
        case rollout::ReportDisposition::kAccepted:
          response->set_disposition(v1::ReportStatusResponse::DISPOSITION_ACCEPTED);
          break;
        case rollout::ReportDisposition::kDuplicate:
          response->set_disposition(v1::ReportStatusResponse::DISPOSITION_DUPLICATE);
          break;
        case rollout::ReportDisposition::kOutOfOrder:
          response->set_disposition(v1::ReportStatusResponse::DISPOSITION_OUT_OF_ORDER);
          break;
      }
      response->set_stored_sequence(result.stored_sequence);
    }
    rpcs->Count(static_cast<int>(status.code()));
    reactor->Finish(ToGrpcStatus(status));
  });
  return reactor;
}

}  // namespace drover::api
