#include "coordinator/api/updater_service.h"

#include <memory>
#include <optional>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/rpc_reason.h"
#include "coordinator/api/proto_convert.h"
#include "coordinator/rollout/staged.h"
#include "proto/wire/report_text.h"
#include "proto/wire/time.h"

namespace drover::api {
namespace {
constexpr absl::string_view kGetTarget = "drover.v1.UpdaterService/GetTarget";
constexpr absl::string_view kReportStatus = "drover.v1.UpdaterService/ReportStatus";
constexpr absl::string_view kSync = "drover.v1.UpdaterService/Sync";
constexpr absl::string_view kSyncTarget = "drover.v1.UpdaterService/Sync (target)";
constexpr absl::string_view kSyncReport = "drover.v1.UpdaterService/Sync (report)";
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

absl::Status UpdaterService::CheckTargetRate(const grpc::CallbackServerContext& context) {
  if (limits_.targets_per_peer == nullptr) return absl::OkStatus();
  const std::string peer = PeerAddress(context.peer());
  if (limits_.targets_per_peer->Allow(peer)) return absl::OkStatus();
  metrics_->CountRefusal("get_target_rate");
  return RateLimited("GetTarget", peer, limits_.targets_per_peer->limit());
}

absl::Status UpdaterService::AnswerTarget(const std::string& channel_name, const std::string& host_id,
                                          const std::string& group, absl::string_view field_prefix,
                                          v1::GetTargetResponse* response) {
  absl::StatusOr<std::string> id = ParseChannelName(absl::StrCat(field_prefix, "channel"), channel_name);
  if (!id.ok()) return id.status();
  if (!host_id.empty()) {
    if (absl::Status s = ValidateHostId(absl::StrCat(field_prefix, "host_id"), host_id); !s.ok()) return s;
  }
  if (absl::Status s = ValidateGroup(absl::StrCat(field_prefix, "group"), group); !s.ok()) return s;
  absl::StatusOr<rollout::Channel> channel = channels_->Get(*id);
  if (!channel.ok()) return channel.status();
  TargetToProto(*channel, clock_->Now(), response);
  if (rollouts_ != nullptr &&
      (channel->rollout_mode != rollout::Channel::RolloutMode::kNone || channel->rollout_catch_all_off)) {
    // A staged rollout, or a catch-all turned off: this host's own
    // answer. When the rollout cannot be read the call fails (the updater
    // keeps its last answer) rather than hand every host the target.
    absl::StatusOr<std::shared_ptr<const store::RolloutSnapshot>> snapshot = rollouts_->Get(*id, channel->rollout_id);
    if (!snapshot.ok()) return snapshot.status();
    const store::RolloutSnapshot& snap = **snapshot;
    const rollout::RolloutView view{snap.rollout.id == 0 ? nullptr : &snap.rollout, &snap.policy, &snap.admitted};
    const rollout::HostTarget answer = rollout::TargetFor(*channel, view, host_id, group);
    response->set_target_version(answer.version);
    response->set_downgrade_allowed(answer.downgrade_allowed);
    response->set_held_back(answer.held_back);
    if (answer.held_back) response->set_critical(false);
  }
  if (signer_ != nullptr) {
    absl::StatusOr<v1::SignedTargetMetadata> signed_metadata = signer_->Get(*id, &*channel);
    if (!signed_metadata.ok()) return signed_metadata.status();
    *response->mutable_signed_metadata() = *std::move(signed_metadata);
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* UpdaterService::GetTarget(grpc::CallbackServerContext* context,
                                                    const grpc::ByteBuffer* request_bytes,
                                                    grpc::ByteBuffer* response_bytes) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  v1::GetTargetRequest request;
  v1::GetTargetResponse response;
  absl::Status status = [&]() -> absl::Status {
    if (absl::Status s = CheckTargetRate(*context); !s.ok()) return s;
    if (absl::Status s = ParseRequest(*request_bytes, max_request_bytes_, &request); !s.ok()) return s;
    return AnswerTarget(request.channel(), request.host_id(), request.group(), "", &response);
  }();
  grpc::Status reply = ToGrpcStatus(status);
  AddReason(context, status);
  if (status.ok()) reply = SerializeResponse(response, response_bytes);
  get_target_rpcs_->Count(static_cast<int>(reply.error_code()));
  if (!reply.ok()) log_->Failed(kGetTarget, FromGrpc(reply), context->peer());
  reactor->Finish(reply);
  return reactor;
}

absl::StatusOr<rollout::AgentReport> UpdaterService::AdmitReport(const grpc::CallbackServerContext& context,
                                                                 const std::function<absl::Status()>& parse,
                                                                 const v1::ReportStatusRequest& request,
                                                                 absl::string_view method) {
  // With TLS, who calls is settled before what they send is read.
  RefusalReason reason;
  auto refuse = [&](absl::Status refused) {
    hosts_->CountRefused(reason);
    log_->Failed(method, refused, context.peer());
    return refused;
  };
  std::optional<PeerHost> peer;
  if (hosts_ != nullptr) {
    absl::StatusOr<PeerHost> p = hosts_->Authenticate(context, &reason);
    if (!p.ok()) return refuse(p.status());
    peer = *std::move(p);
  }
  absl::StatusOr<rollout::AgentReport> report = [&]() -> absl::StatusOr<rollout::AgentReport> {
    if (absl::Status s = parse(); !s.ok()) return s;
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
    log_->Failed(method, report.status(), context.peer());
    return report;
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
                 context.peer());
  }
  return report;
}

void UpdaterService::SubmitReport(rollout::AgentReport report, ReportDone done) {
  reports_waiting_.fetch_add(1, std::memory_order_relaxed);
  batcher_->Submit(std::move(report), [this, done = std::move(done)](const absl::Status& status,
                                                                     const store::ReportResult& result) {
    reports_waiting_.fetch_sub(1, std::memory_order_relaxed);
    v1::ReportStatusResponse response;
    if (status.ok()) {
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
    }
    done(status, response);
  });
}

grpc::ServerUnaryReactor* UpdaterService::ReportStatus(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request_bytes,
                                                       grpc::ByteBuffer* response_bytes) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  v1::ReportStatusRequest request;
  absl::StatusOr<rollout::AgentReport> report = AdmitReport(
      *context, [&] { return ParseRequest(*request_bytes, max_request_bytes_, &request); }, request, kReportStatus);
  if (!report.ok()) {
    report_rpcs_->Count(static_cast<int>(report.status().code()));
    AddReason(context, report.status());
    reactor->Finish(ToGrpcStatus(report.status()));
    return reactor;
  }
  SubmitReport(*std::move(report), [reactor, response_bytes, rpcs = report_rpcs_, log = log_, context](
                                       const absl::Status& status, const v1::ReportStatusResponse& response) {
    grpc::Status reply = ToGrpcStatus(status);
    AddReason(context, status);
    if (status.ok()) reply = SerializeResponse(response, response_bytes);
    rpcs->Count(static_cast<int>(reply.error_code()));
    if (!reply.ok()) log->Failed(kReportStatus, FromGrpc(reply), context->peer());
    reactor->Finish(reply);
  });
  return reactor;
}

absl::Duration UpdaterService::NextSync(absl::Duration poll) {
  const absl::Time now = clock_->Now();
  const double fill = pacing_.max_queue == 0 ? 0
                                             : static_cast<double>(reports_waiting_.load(std::memory_order_relaxed)) /
                                                   static_cast<double>(pacing_.max_queue);
  double unit;
  if (pacing_.unit) {
    unit = pacing_.unit();
  } else {
    thread_local std::mt19937_64 rng(std::random_device{}());
    unit = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  }
  const absl::Duration next = rollout::NextSyncInterval({.poll_interval = poll,
                                                         .served_hosts = served_.Estimate(now),
                                                         .target_rate = pacing_.target_rate,
                                                         .queue_fill = fill,
                                                         .unit = unit});
  served_.Record(now, next);
  return next;
}

grpc::ServerUnaryReactor* UpdaterService::Sync(grpc::CallbackServerContext* context,
                                               const grpc::ByteBuffer* request_bytes,
                                               grpc::ByteBuffer* response_bytes) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  auto finish = [this, reactor, response_bytes, context](const v1::SyncResponse& response) {
    grpc::Status reply = SerializeResponse(response, response_bytes);
    sync_rpcs_->Count(static_cast<int>(reply.error_code()));
    if (!reply.ok()) log_->Failed(kSync, FromGrpc(reply), context->peer());
    reactor->Finish(reply);
  };
  // The target needs the report's channel, host and group: the request is
  // read first. One that cannot be read at all answers nothing.
  auto request = std::make_shared<v1::SyncRequest>();
  if (absl::Status s = ParseRequest(*request_bytes, max_request_bytes_, request.get()); !s.ok()) {
    // Counted as a report that could not be read, as ReportStatus counts it.
    metrics_->CountReport(s.code() == absl::StatusCode::kResourceExhausted ? metrics::ReportOutcome::kTooLarge
                                                                            : metrics::ReportOutcome::kInvalid);
    sync_rpcs_->Count(static_cast<int>(s.code()));
    log_->Failed(kSync, s, context->peer());
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  const v1::ReportStatusRequest& report_request = request->report();
  auto response = std::make_shared<v1::SyncResponse>();
  // The target: answered whatever becomes of the report.
  absl::Status target = CheckTargetRate(*context);
  if (target.ok()) {
    target = AnswerTarget(report_request.channel(), report_request.host_id(), report_request.group(), "report.",
                          response->mutable_target());
  }
  if (target.ok()) {
    wire::DurationToProto(NextSync(wire::DurationFromProtoOr(response->target().poll_interval(), kDefaultPollInterval)),
                          response->mutable_next_sync());
  } else {
    response->clear_target();
    response->set_target_error_code(static_cast<int32_t>(target.code()));
    response->set_target_error(std::string(target.message()));
    response->set_target_error_reason(ReasonOf(target).value_or(""));
    log_->Failed(kSyncTarget, target, context->peer());
  }
  // The report, admitted and submitted exactly as ReportStatus does.
  absl::StatusOr<rollout::AgentReport> report =
      AdmitReport(*context, [] { return absl::OkStatus(); }, report_request, kSyncReport);
  if (!report.ok()) {
    response->set_report_error_code(static_cast<int32_t>(report.status().code()));
    response->set_report_error(std::string(report.status().message()));
    response->set_report_error_reason(ReasonOf(report.status()).value_or(""));
    finish(*response);
    return reactor;
  }
  // Answered once the report's callback ran (committed, or kept).
  SubmitReport(*std::move(report), [this, response, finish, context](const absl::Status& status,
                                                                     const v1::ReportStatusResponse& answer) {
    if (status.ok()) {
      *response->mutable_report() = answer;
    } else {
      response->set_report_error_code(static_cast<int32_t>(status.code()));
      response->set_report_error(std::string(status.message()));
      response->set_report_error_reason(ReasonOf(status).value_or(""));
      log_->Failed(kSyncReport, status, context->peer());
    }
    finish(*response);
  });
  return reactor;
}

}  // namespace drover::api
