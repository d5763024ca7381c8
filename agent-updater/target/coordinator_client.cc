#include "agent-updater/target/coordinator_client.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "common/rpc_reason.h"
#include "drover/v1/updater_service.grpc.pb.h"

namespace drover::updater {
namespace {

absl::Status FromGrpc(const grpc::Status& s, const grpc::ClientContext& ctx, absl::string_view what,
                      const std::string& address) {
  absl::Status status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat(what, " at ", address, ": ", s.error_message()));
  // The coordinator's structured reason, if it sent one (see common/rpc_reason.h).
  const auto& trailers = ctx.GetServerTrailingMetadata();
  if (auto it = trailers.find(grpc::string_ref(kReasonKey.data(), kReasonKey.size())); it != trailers.end()) {
    status = WithReason(std::move(status), absl::string_view(it->second.data(), it->second.size()));
  }
  return status;
}

class GrpcCoordinatorClient final : public CoordinatorClient {
 public:
  GrpcCoordinatorClient(std::string address, absl::Duration timeout,
                        std::shared_ptr<grpc::ChannelCredentials> credentials)
      : address_(std::move(address)), timeout_(timeout) {
    grpc::ChannelArguments args;
    // Reconnect quickly after the coordinator returns, but never hammer it.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 1000);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 30000);
    stub_ = v1::UpdaterService::NewStub(
        grpc::CreateCustomChannel(address_, credentials, args));
  }

  absl::StatusOr<v1::GetTargetResponse> GetTarget(const v1::GetTargetRequest& request) override {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::GetTargetResponse response;
    grpc::Status s = stub_->GetTarget(&ctx, request, &response);
    if (!s.ok()) return FromGrpc(s, ctx, "fetching the target", address_);
    return response;
  }

  absl::StatusOr<v1::ReportStatusResponse> ReportStatus(const v1::ReportStatusRequest& request) override {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::ReportStatusResponse response;
    grpc::Status s = stub_->ReportStatus(&ctx, request, &response);
    if (!s.ok()) return FromGrpc(s, ctx, "reporting", address_);
    return response;
  }

  absl::StatusOr<SyncAnswer> Sync(const v1::ReportStatusRequest& report) override {
    grpc::ClientContext ctx;
    SetDeadline(ctx);
    v1::SyncRequest request;
    *request.mutable_report() = report;
    v1::SyncResponse response;
    grpc::Status s = stub_->Sync(&ctx, request, &response);
    if (!s.ok()) return FromGrpc(s, ctx, "syncing (report and target)", address_);
    // Each half's error as GetTarget or ReportStatus would have given it.
    auto half = [&](int32_t code, const std::string& message, const std::string& reason, absl::string_view what) {
      absl::Status status(static_cast<absl::StatusCode>(code), absl::StrCat(what, " at ", address_, ": ", message));
      return reason.empty() ? status : WithReason(std::move(status), reason);
    };
    SyncAnswer answer;
    if (response.target_error_code() != 0) {
      answer.target = half(response.target_error_code(), response.target_error(), response.target_error_reason(),
                           "fetching the target");
    } else {
      answer.target = response.target();
    }
    if (response.report_error_code() != 0) {
      answer.report = half(response.report_error_code(), response.report_error(), response.report_error_reason(),
                           "reporting");
    } else {
      answer.report = response.report();
    }
    if (response.has_next_sync()) {
      answer.next_sync = absl::Seconds(response.next_sync().seconds()) + absl::Nanoseconds(response.next_sync().nanos());
    }
    return answer;
  }

 private:
  void SetDeadline(grpc::ClientContext& ctx) {
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout_)));
  }

  const std::string address_;
  const absl::Duration timeout_;
  std::unique_ptr<v1::UpdaterService::Stub> stub_;
};

}  // namespace

CoordinatorError DescribeCoordinatorError(const absl::Status& status, const std::string& channel) {
  using Kind = CoordinatorError::Kind;
  const std::string said(status.message());
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return {Kind::kChannelNotFound, true,
              absl::StrCat("channel \"", channel,
                           "\" does not exist on the coordinator (deleted, or mistyped in the config): compare "
                           "`channel` in the updater's config with `droverctl channels list`, or recreate the "
                           "channel; meanwhile the last known target stays in force (",
                           said, ")")};
    case absl::StatusCode::kUnavailable:
      // The coordinator marks a PostgreSQL outage with trailing metadata;
      // the message text is no guide (the address may say "database").
      if (IsDatabaseUnavailable(status)) {
        return {Kind::kDatabaseUnavailable, true,
                absl::StrCat("the coordinator answers but its database is unavailable: its operator must bring "
                             "PostgreSQL back; retrying with backoff (",
                             said, ")")};
      }
      [[fallthrough]];
    case absl::StatusCode::kDeadlineExceeded:
      return {Kind::kUnreachable, false,
              absl::StrCat("coordinator unreachable: ", said,
                           " (check `coordinator` in the config, the network and that the coordinator runs); "
                           "retrying with backoff")};
    default:
      return {Kind::kRefused, true,
              absl::StrCat("the coordinator answered ", absl::StatusCodeToString(status.code()), ": ", said)};
  }
}

std::unique_ptr<CoordinatorClient> MakeGrpcCoordinatorClient(const std::string& address, absl::Duration timeout) {
  return std::make_unique<GrpcCoordinatorClient>(address, timeout, grpc::InsecureChannelCredentials());
}

std::unique_ptr<CoordinatorClient> MakeGrpcCoordinatorClient(const std::string& address, absl::Duration timeout,
                                                              const ClientTls& tls) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = tls.ca_pem;
  options.pem_private_key = tls.key_pem;
  options.pem_cert_chain = tls.cert_pem;
  return std::make_unique<GrpcCoordinatorClient>(address, timeout, grpc::SslCredentials(options));
}

}  // namespace drover::updater
