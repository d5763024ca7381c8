#include "agent-updater/target/host_identity.h"

#include <sys/stat.h>

#include <optional>

#include <grpcpp/grpcpp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "drover/v1/enrollment_service.grpc.pb.h"
#include "common/pki/pki.h"

namespace drover::updater {
namespace {

struct Paths {
  std::string dir, key, cert, used_token;
};

Paths PathsFor(const std::string& state_dir) {
  const std::string dir = state_dir + "/identity";
  return {dir, dir + "/host.key", dir + "/host.pem", dir + "/used_token.sha256"};
}

std::unique_ptr<v1::EnrollmentService::Stub> Stub(const HostIdentityOptions& o, const ClientTls& tls) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = tls.ca_pem;
  ssl.pem_private_key = tls.key_pem;
  ssl.pem_cert_chain = tls.cert_pem;
  return v1::EnrollmentService::NewStub(grpc::CreateChannel(o.coordinator, grpc::SslCredentials(ssl)));
}

void SetDeadline(grpc::ClientContext& ctx, absl::Duration timeout) {
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)));
}

// Key first, then certificate: a crash in between leaves a key without its
// certificate, which the next pass treats as no certificate.
absl::Status Store(const Paths& p, const std::string& key_pem, const std::string& chain_pem) {
  if (mkdir(p.dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::PermissionDeniedError(absl::StrCat("cannot create \"", p.dir, "\""));
  }
  if (absl::Status s = pki::WriteFileAtomically(p.key, key_pem, 0600); !s.ok()) return s;
  return pki::WriteFileAtomically(p.cert, chain_pem, 0644);
}

}  // namespace

absl::StatusOr<HostIdentity> PrepareHostIdentity(const HostIdentityOptions& o, absl::Time now) {
  HostIdentity out;
  absl::StatusOr<std::string> ca = pki::ReadFile(o.ca_file);
  if (!ca.ok()) return absl::FailedPreconditionError(absl::StrCat("coordinator_ca_file: ", ca.status().message()));
  out.tls.ca_pem = *ca;
  const Paths p = PathsFor(o.state_dir);

  // What the host holds, if it is usable now.
  absl::StatusOr<std::string> key = pki::ReadPrivateKeyFile(p.key);
  absl::StatusOr<std::string> cert = pki::ReadFile(p.cert);
  std::optional<pki::CertificateInfo> held;
  if (key.ok() && cert.ok() && pki::VerifyCertificate(*cert, *ca, now).ok()) {
    absl::StatusOr<pki::CertificateInfo> info = pki::ParseCertificatePem(*cert);
    if (info.ok()) held = *info;
  } else if (!key.ok() && key.status().code() == absl::StatusCode::kFailedPrecondition) {
    out.note = std::string(key.status().message());
    out.warning = true;
  }

  // A token not traded yet: enrol with it (first run, or again after a revocation).
  std::string token;
  if (!o.join_token_file.empty()) {
    absl::StatusOr<std::string> t = pki::ReadFile(o.join_token_file);
    if (t.ok()) token = std::string(absl::StripAsciiWhitespace(*t));
  }
  const absl::StatusOr<std::string> used = pki::ReadFile(p.used_token);
  const bool fresh_token = !token.empty() && !(used.ok() && *used == pki::Sha256Hex(token));
  if (fresh_token) {
    absl::StatusOr<std::string> new_key = pki::GenerateKeyPem();
    absl::StatusOr<std::string> csr = new_key.ok() ? pki::MakeCsrPem(*new_key, o.host_id) : new_key.status();
    if (!csr.ok()) return csr.status();
    v1::EnrollRequest req;
    req.set_join_token(token);
    req.set_host_id(o.host_id);
    req.set_csr_pem(*csr);
    v1::EnrollResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx, o.timeout);
    grpc::Status s = Stub(o, {*ca, "", ""})->Enroll(&ctx, req, &resp);
    // A refused token is not offered again; an unreachable coordinator is retried next pass.
    if (s.ok() || s.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
      if (mkdir(p.dir.c_str(), 0700) != 0 && errno != EEXIST) {
        return absl::PermissionDeniedError(absl::StrCat("cannot create \"", p.dir, "\""));
      }
      (void)pki::WriteFileAtomically(p.used_token, pki::Sha256Hex(token), 0600);
    }
    if (s.ok() && pki::VerifyCertificate(resp.certificate_chain_pem(), *ca, now).ok()) {
      if (absl::Status w = Store(p, *new_key, resp.certificate_chain_pem()); !w.ok()) return w;
      out.tls.key_pem = *new_key;
      out.tls.cert_pem = resp.certificate_chain_pem();
      out.note = absl::StrCat("enrolled as host \"", o.host_id, "\" in channel \"", resp.channel(), "\"");
      out.warning = false;
      return out;
    }
    out.note = s.ok() ? "enrolment answered with a certificate that does not chain to coordinator_ca_file"
                      : absl::StrCat("enrolment with ", o.join_token_file, " failed: ", s.error_message());
    out.warning = true;
  }
  if (!held.has_value()) {
    if (out.note.empty()) {
      out.note = absl::StrCat("no valid host certificate in ", p.dir, ": reports are refused until the host enrols; ",
                              "put a new join token (droverctl tokens create) in join_token_file");
      out.warning = true;
    }
    return out;
  }
  out.tls.key_pem = *key;
  out.tls.cert_pem = *cert;
  const absl::Time renew_at = held->not_before + (held->not_after - held->not_before) * kRenewAfterLifetimeShare;
  if (!o.renew || now < renew_at) return out;

  absl::StatusOr<std::string> new_key = pki::GenerateKeyPem();
  absl::StatusOr<std::string> csr = new_key.ok() ? pki::MakeCsrPem(*new_key, o.host_id) : new_key.status();
  if (!csr.ok()) return csr.status();
  v1::RenewRequest req;
  req.set_csr_pem(*csr);
  v1::RenewResponse resp;
  grpc::ClientContext ctx;
  SetDeadline(ctx, o.timeout);
  grpc::Status s = Stub(o, out.tls)->Renew(&ctx, req, &resp);
  if (!s.ok() || !pki::VerifyCertificate(resp.certificate_chain_pem(), *ca, now).ok()) {
    out.note = absl::StrCat("renewing the host certificate (expires ",
                            absl::FormatTime(absl::RFC3339_sec, held->not_after, absl::UTCTimeZone()),
                            ") failed: ", s.ok() ? "the new certificate does not chain to the CA" : s.error_message());
    out.warning = true;
    return out;
  }
  if (absl::Status w = Store(p, *new_key, resp.certificate_chain_pem()); !w.ok()) return w;
  out.tls.key_pem = *new_key;
  out.tls.cert_pem = resp.certificate_chain_pem();
  out.note = "renewed the host certificate";
  return out;
}

}  // namespace drover::updater
