#include "coordinator/api/updater_service.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "common/rpc_reason.h"
#include "coordinator/api/proto_convert.h"
#include "coordinator/rollout/staged.h"
#include "proto/wire/report_text.h"

namespace drover::api {
namespace {
constexpr absl::string_view kGetTarget = "drover.v1.UpdaterService/GetTarget";
constexpr absl::string_view kReportStatus = "drover.v1.UpdaterService/ReportStatus";
constexpr absl::string_view kMetadataRefused = "drover.v1.UpdaterService/ReportStatus (updater refuses signed metadata)";

absl::Status FromGrpc(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

// Updaters tell a database outage from an unreachable coordinator by this
// metadata, not by the message text.
void AddReason(grpc::CallbackServerContext* context, const absl::Status& status) {
  if (IsDatabaseUnavailable(status)) {
    context->AddTrailingMetadata(std::string(kReasonKey), std::string(kReasonDatabaseUnavailable));
  } else if (status.code() == absl::StatusCode::kResourceExhausted && ReasonOf(status) == kReasonRateLimited) {
    context->AddTrailingMetadata(std::string(kReasonKey), std::string(kReasonRateLimited));
  }
}

absl::Status RateLimited(absl::string_view what, absl::string_view key, const RateLimit& limit) {
  return WithReason(absl::ResourceExhaustedError(absl::StrCat(
                        what, " from ", key, " refused: more than ", limit.per_second, " per second (burst ",
                        limit.burst, "); retry later")),
                    kReasonRateLimited);
}
}  // namespace

grpc::ServerUnaryReactor* UpdaterService::GetTarget(grpc::CallbackServerContext* context,
                                                    const grpc::ByteBuffer* request_bytes,
                                                    grpc::ByteBuffer* response_bytes) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  v1::GetTargetRequest request;
  v1::GetTargetResponse response;
  absl::Status status = [&]() -> absl::Status {
    if (limits_.targets_per_peer != nullptr) {
      const std::string peer = PeerAddress(context->peer());
      if (!limits_.targets_per_peer->Allow(peer)) {
        metrics_->CountRefusal("get_target_rate");
        return RateLimited("GetTarget", peer, limits_.targets_per_peer->limit());
      }
    }
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
    if (rollouts_ != nullptr &&
        (channel->rollout_mode != rollout::Channel::RolloutMode::kNone || channel->rollout_catch_all_off)) {
      // A staged rollout, or a catch-all turned off: this host's own
      // answer. When the rollout cannot be read the call fails (the updater
      // keeps its last answer) rather than hand every host the target.
      absl::StatusOr<std::shared_ptr<const store::RolloutSnapshot>> snapshot =
          rollouts_->Get(*id, channel->rollout_id);
      if (!snapshot.ok()) return snapshot.status();
      const store::RolloutSnapshot& snap = **snapshot;
      const rollout::RolloutView view{snap.rollout.id == 0 ? nullptr : &snap.rollout, &snap.policy, &snap.admitted};
      const rollout::HostTarget answer = rollout::TargetFor(*channel, view, request.host_id(), request.group());
      response.set_target_version(answer.version);
      response.set_downgrade_allowed(answer.downgrade_allowed);
      response.set_held_back(answer.held_back);
      if (answer.held_back) response.set_critical(false);
    }
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
  // With TLS, who calls is settled before what they send is read.
  RefusalReason reason;
  auto refuse = [&](const absl::Status& refused) {
    hosts_->CountRefused(reason);
    report_rpcs_->Count(static_cast<int>(refused.code()));
    log_->Failed(kReportStatus, refused, context->peer());
    reactor->Finish(ToGrpcStatus(refused));
    return reactor;
  };
  std::optional<PeerHost> peer;
  if (hosts_ != nullptr) {
    absl::StatusOr<PeerHost> p = hosts_->Authenticate(*context, &reason);
    if (!p.ok()) return refuse(p.status());
    peer = *std::move(p);
  }
  v1::ReportStatusRequest request;
  absl::StatusOr<rollout::AgentReport> report = [&]() -> absl::StatusOr<rollout::AgentReport> {
    if (absl::Status s = ParseRequest(*request_bytes, max_request_bytes_, &request); !s.ok()) return s;
    return ReportFromProto(request, clock_->Now());
  }();
  if (report.ok() && peer.has_value()) {
    if (absl::Status s = HostAuthenticator::CheckReport(*peer, report->host_id, report->channel, &reason); !s.ok()) {
      return refuse(s);
    }
  }
  // Limited per identity once it is settled: with TLS the certificate's
  // host, so reports forged for another host cannot spend its budget.
  if (report.ok() && limits_.reports_per_host != nullptr &&
      !limits_.reports_per_host->Allow(peer.has_value() ? peer->host_id : report->host_id)) {
    metrics_->CountRefusal("report_rate");
    report = RateLimited("ReportStatus", absl::StrCat("host \"", report->host_id, "\""),
                         limits_.reports_per_host->limit());
  }
  if (!report.ok()) {
    metrics_->CountReport(ReasonOf(report.status()) == kReasonRateLimited ? metrics::ReportOutcome::kRateLimited
                          : report.status().code() == absl::StatusCode::kResourceExhausted
                              ? metrics::ReportOutcome::kTooLarge
                              : metrics::ReportOutcome::kInvalid);
    report_rpcs_->Count(static_cast<int>(report.status().code()));
    AddReason(context, report.status());
    log_->Failed(kReportStatus, report.status(), context->peer());
    reactor->Finish(ToGrpcStatus(report.status()));
    return reactor;
  }
  if (!request.metadata_problem().empty()) {
    // The host acts on none of our answers (a key rotated without
    // restarting this replica, expired metadata, tampering on the way):
    // said here, rate-limited like refusals, with the host's own words.
    log_->Failed(kMetadataRefused,
                 absl::FailedPreconditionError(absl::StrCat(
                     "host \"", report->host_id, "\" acts on none of this coordinator's signed answers: ",
                     wire::SanitizeText(request.metadata_problem(), kMaxErrorLength, wire::TextLines::kOne),
                     " (its report itself is accepted; check that this replica signs with the targets key of the "
                     "newest delegation, `droverctl keys show`, restarting it after `droverctl keys publish`, and "
                     "that the host's clock is right)")),
                 context->peer());
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
        case rollout::ReportDisposition::kSequenceTooFarAhead:
          response.set_disposition(v1::ReportStatusResponse::DISPOSITION_SEQUENCE_TOO_FAR_AHEAD);
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
