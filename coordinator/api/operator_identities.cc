// OperatorService: join tokens and revocation of host identities.
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "coordinator/api/operator_service.h"
#include "coordinator/api/proto_convert.h"
#include "common/pki/pki.h"
#include "proto/wire/time.h"

namespace drover::api {
namespace {
constexpr absl::Duration kDefaultJoinTokenTtl = absl::Hours(1);
constexpr absl::Duration kMinJoinTokenTtl = absl::Minutes(1);
constexpr absl::Duration kMaxJoinTokenTtl = absl::Hours(24 * 30);
}  // namespace

grpc::Status OperatorService::CreateJoinToken(grpc::ServerContextBase* context, const v1::CreateJoinTokenRequest* req,
                                              v1::CreateJoinTokenResponse* out) {
  return Done("CreateJoinToken", [&]() -> absl::Status {
    if (identities_ == nullptr) return absl::UnimplementedError("this coordinator keeps no host identities");
    absl::StatusOr<std::string> channel = ParseChannelName("channel", req->channel());
    if (!channel.ok()) return channel.status();
    const absl::Duration ttl = wire::DurationFromProtoOr(req->ttl(), kDefaultJoinTokenTtl);
    if (ttl < kMinJoinTokenTtl || ttl > kMaxJoinTokenTtl) {
      return absl::InvalidArgumentError(absl::StrCat("ttl ", absl::FormatDuration(ttl), " must be between ",
                                                     absl::FormatDuration(kMinJoinTokenTtl), " and ",
                                                     absl::FormatDuration(kMaxJoinTokenTtl)));
    }
    absl::StatusOr<std::string> token = pki::NewJoinToken();
    if (!token.ok()) return absl::InternalError("could not draw a join token");
    const absl::Time now = clock_->Now();
    const store::AuditRecord audit = AuditOf(context, "CreateJoinToken");
    if (absl::Status s = identities_->CreateJoinToken(pki::Sha256Hex(*token), *channel, now, now + ttl, &audit);
        !s.ok()) {
      return s;
    }
    // The token is a secret: the log names the channel, never the token.
    LogInfo(absl::StrCat("join token for channel \"", *channel, "\" created by ", (audit.actor.empty() ? audit.peer : absl::StrCat(audit.actor, " at ", audit.peer)), ", valid ",
                         absl::FormatDuration(ttl)));
    out->set_token(*token);
    wire::TimeToProto(now + ttl, out->mutable_expire_time());
    return absl::OkStatus();
  }());
}

grpc::Status OperatorService::RevokeAgent(grpc::ServerContextBase* context, const v1::RevokeAgentRequest* req,
                                          v1::RevokeAgentResponse* out) {
  return Done("RevokeAgent", [&]() -> absl::Status {
    if (identities_ == nullptr) return absl::UnimplementedError("this coordinator keeps no host identities");
    if (absl::Status s = ValidateHostId("host_id", req->host_id()); !s.ok()) return s;
    const absl::Time now = clock_->Now();
    const store::AuditRecord audit = AuditOf(context, "RevokeAgent");
    absl::StatusOr<int64_t> revoked = identities_->RevokeHost(req->host_id(), now, &audit);
    if (!revoked.ok()) return revoked.status();
    // Refused here at once; other replicas within their next refresh.
    if (revocations_ != nullptr) {
      absl::StatusOr<std::vector<std::string>> list = identities_->ListRevokedSerials(now);
      if (list.ok()) revocations_->Replace(*list);
    }
    LogInfo(absl::StrCat("host \"", req->host_id(), "\" revoked by ", (audit.actor.empty() ? audit.peer : absl::StrCat(audit.actor, " at ", audit.peer)), ": ", *revoked,
                         " certificate(s)"));
    out->set_revoked_certificates(*revoked);
    return absl::OkStatus();
  }());
}

}  // namespace drover::api
