#include "coordinator/api/host_identity.h"

#include <grpc/grpc_security_constants.h>

#include <optional>

#include "absl/strings/str_cat.h"
#include "common/pki/pki.h"

namespace drover::api {

bool RevocationList::IsRevoked(const std::string& serial_hex) const {
  absl::MutexLock lock(&mu_);
  return revoked_.contains(serial_hex);
}

void RevocationList::Replace(const std::vector<std::string>& serials) {
  absl::flat_hash_set<std::string> next(serials.begin(), serials.end());
  absl::MutexLock lock(&mu_);
  revoked_.swap(next);
}

void RevocationList::Add(const std::vector<std::string>& serials) {
  absl::MutexLock lock(&mu_);
  revoked_.insert(serials.begin(), serials.end());
}

HostAuthenticator::HostAuthenticator(std::string fleet, const RevocationList* revoked,
                                     prometheus::Registry& registry)
    : fleet_(std::move(fleet)),
      revoked_(revoked),
      refused_(prometheus::BuildCounter()
                   .Name("drover_reports_refused_total")
                   .Help("Reports (and renewals) refused for the caller's identity, by reason")
                   .Register(registry)) {
  for (const char* reason : {"no_certificate", "bad_certificate", "revoked", "wrong_host", "wrong_channel"}) {
    by_reason_.push_back(&refused_.Add({{"reason", reason}}));
  }
}

void HostAuthenticator::CountRefused(RefusalReason reason) { by_reason_[static_cast<size_t>(reason)]->Increment(); }

absl::StatusOr<PeerHost> HostAuthenticator::Authenticate(const grpc::ServerContextBase& context,
                                                         RefusalReason* reason) const {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  std::vector<grpc::string_ref> pems =
      auth == nullptr ? std::vector<grpc::string_ref>() : auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pems.empty()) {
    *reason = RefusalReason::kNoCertificate;
    return absl::UnauthenticatedError(
        "no client certificate: the updater must enrol with a join token (`droverctl tokens create`) and "
        "present its host certificate");
  }
  // x509_pem_cert is the leaf the handshake verified against the host CA.
  const absl::string_view pem(pems[0].data(), pems[0].size());
  const std::string digest = pki::Sha256Hex(pem);
  std::optional<PeerHost> peer;
  {
    absl::ReaderMutexLock lock(&cache_mu_);
    if (auto it = identities_.find(digest); it != identities_.end()) peer = it->second;
  }
  if (!peer.has_value()) {
    absl::StatusOr<PeerHost> read = ReadIdentity(pem, reason);
    if (!read.ok()) return read.status();
    peer = *std::move(read);
    absl::MutexLock lock(&cache_mu_);
    if (identities_.size() >= kMaxCachedIdentities) identities_.clear();
    identities_.emplace(digest, *peer);
  }
  if (revoked_->IsRevoked(peer->serial_hex)) {
    *reason = RefusalReason::kRevoked;
    return absl::PermissionDeniedError(absl::StrCat("the certificate of host \"", peer->host_id,
                                                    "\" is revoked: enrol the host again with a new join token"));
  }
  return *std::move(peer);
}

absl::StatusOr<PeerHost> HostAuthenticator::ReadIdentity(absl::string_view pem, RefusalReason* reason) const {
  absl::StatusOr<pki::CertificateInfo> cert = pki::ParseCertificatePem(pem);
  if (!cert.ok()) {
    *reason = RefusalReason::kBadCertificate;
    return absl::UnauthenticatedError("the client certificate could not be read");
  }
  if (cert->uri_sans.size() != 1) {
    *reason = RefusalReason::kBadCertificate;
    return absl::UnauthenticatedError(absl::StrCat("the client certificate has ", cert->uri_sans.size(),
                                                   " URI SANs; a host certificate has exactly one"));
  }
  absl::StatusOr<std::string> host = pki::HostIdFromSpiffeId(cert->uri_sans[0], fleet_);
  if (!host.ok()) {
    *reason = RefusalReason::kBadCertificate;
    return absl::UnauthenticatedError(absl::StrCat("the client certificate is no host identity: ", host.status().message()));
  }
  return PeerHost{*std::move(host), cert->subject_ou, cert->serial_hex};
}

absl::Status HostAuthenticator::CheckReport(const PeerHost& peer, const std::string& host_id,
                                            const std::string& channel, RefusalReason* reason) {
  if (host_id != peer.host_id) {
    *reason = RefusalReason::kWrongHost;
    return absl::PermissionDeniedError(absl::StrCat("report for host \"", host_id,
                                                    "\" refused: the client certificate is that of host \"",
                                                    peer.host_id, "\""));
  }
  if (channel != peer.channel) {
    *reason = RefusalReason::kWrongChannel;
    return absl::PermissionDeniedError(absl::StrCat(
        "report for channel \"", channel, "\" refused: host \"", host_id, "\" enrolled for channel \"",
        peer.channel, "\"; to move it, revoke it and enrol it again with a join token for \"", channel, "\""));
  }
  return absl::OkStatus();
}

}  // namespace drover::api
