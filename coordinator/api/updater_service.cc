#include "coordinator/api/updater_service.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/proto_utf8.h"
#include "coordinator/api/proto_convert.h"

namespace drover::api {
namespace {

// Parses an encoded request; INVALID_ARGUMENT naming the field when protobuf
// refuses it.
absl::Status Parse(const grpc::ByteBuffer& in, google::protobuf::Message* out) {
  std::vector<grpc::Slice> slices;
  if (!in.Dump(&slices).ok()) return absl::InvalidArgumentError("request could not be read");
  std::string joined;
  absl::string_view wire;
  if (slices.size() == 1) {
    wire = absl::string_view(reinterpret_cast<const char*>(slices[0].begin()), slices[0].size());
  } else {
    for (const grpc::Slice& s : slices) joined.append(reinterpret_cast<const char*>(s.begin()), s.size());
    wire = joined;
  }
  if (out->ParseFromArray(wire.data(), static_cast<int>(wire.size()))) return absl::OkStatus();
  std::optional<std::string> bad = FindInvalidUtf8(out->GetDescriptor(), wire);
  return absl::InvalidArgumentError(absl::StrCat("request is not a valid ", out->GetDescriptor()->full_name(), ": ",
                                                 bad.value_or("the encoding is damaged")));
}

grpc::Status Serialize(const google::protobuf::Message& message, grpc::ByteBuffer* out) {
  bool own_buffer = false;
  return grpc::SerializationTraits<google::protobuf::Message>::Serialize(message, out, &own_buffer);
}

}  // namespace

grpc::ServerUnaryReactor* UpdaterService::GetTarget(grpc::CallbackServerContext* context,
                                                    const grpc::ByteBuffer* request_bytes,
                                                    grpc::ByteBuffer* response_bytes) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  v1::GetTargetRequest request;
  v1::GetTargetResponse response;
  absl::Status status = [&]() -> absl::Status {
    if (absl::Status s = Parse(*request_bytes, &request); !s.ok()) return s;
    absl::StatusOr<std::string> id = ParseChannelName("channel", request.channel());
    if (!id.ok()) return id.status();
    if (!request.host_id().empty()) {
      if (absl::Status s = ValidateHostId("host_id", request.host_id()); !s.ok()) return s;
    }
    if (absl::Status s = ValidateGroup("group", request.group()); !s.ok()) return s;
    absl::StatusOr<rollout::Channel> channel = channels_->Get(*id);
    if (!channel.ok()) return channel.status();
    TargetToProto(*channel, clock_->Now(), &response);
    return absl::OkStatus();
  }();
  grpc::Status reply = ToGrpcStatus(status);
  if (status.ok()) reply = Serialize(response, response_bytes);
  get_target_rpcs_->Count(static_cast<int>(reply.error_code()));
  reactor->Finish(reply);
  return reactor;
}

grpc::ServerUnaryReactor* UpdaterService::ReportStatus(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request_bytes,
                                                       grpc::ByteBuffer* response_bytes) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  v1::ReportStatusRequest request;
  absl::StatusOr<rollout::AgentReport> report = [&]() -> absl::StatusOr<rollout::AgentReport> {
    if (absl::Status s = Parse(*request_bytes, &request); !s.ok()) return s;
    return ReportFromProto(request, clock_->Now());
  }();
  if (!report.ok()) {
    metrics_->CountReport(metrics::ReportOutcome::kInvalid);
    report_rpcs_->Count(static_cast<int>(report.status().code()));
    reactor->Finish(ToGrpcStatus(report.status()));
    return reactor;
  }
  batcher_->Submit(*std::move(report), [reactor, response_bytes, rpcs = report_rpcs_](
                                           const absl::Status& status, const store::ReportResult& result) {
    grpc::Status reply = ToGrpcStatus(status);
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
      reply = Serialize(response, response_bytes);
    }
    rpcs->Count(static_cast<int>(reply.error_code()));
    reactor->Finish(reply);
  });
  return reactor;
}

}  // namespace drover::api
