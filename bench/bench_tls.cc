#include "bench/bench_tls.h"

#include <sys/stat.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/fleet.h"
#include "common/pki/pki.h"

namespace drover::bench {
namespace {

absl::Status Named(const std::string& flag, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat("--", flag, ": ", s.message()));
}

absl::StatusOr<std::string> ReadCertificateFile(const std::string& flag, const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat("--", flag, " is required with TLS"));
  absl::StatusOr<std::string> pem = pki::ReadFile(path);
  if (!pem.ok()) return Named(flag, pem.status());
  if (!pki::ParseCertificatePem(*pem).ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": \"", path, "\" holds no PEM certificate"));
  }
  return pem;
}

}  // namespace

absl::StatusOr<BenchTls> MakeBenchTls(const BenchTlsOptions& o) {
  absl::StatusOr<std::string> server_ca = ReadCertificateFile("tls_ca_file", o.server_ca_file);
  if (!server_ca.ok()) return server_ca.status();
  absl::StatusOr<std::string> ca_cert = ReadCertificateFile("host_ca_cert_file", o.host_ca_cert_file);
  if (!ca_cert.ok()) return ca_cert.status();
  if (o.host_ca_key_file.empty()) return absl::InvalidArgumentError("--host_ca_key_file is required with TLS");
  absl::StatusOr<std::string> ca_key = pki::ReadPrivateKeyFile(o.host_ca_key_file);
  if (!ca_key.ok()) return Named("host_ca_key_file", ca_key.status());
  if (absl::Status s = pki::ValidateFleetName(o.fleet); !s.ok()) return Named("fleet", s);
  absl::StatusOr<pki::CertificateAuthority> ca = pki::CertificateAuthority::Load(*ca_cert, *ca_key);
  if (!ca.ok()) return Named("host_ca_cert_file/--host_ca_key_file", ca.status());

  BenchTls tls;
  grpc::SslCredentialsOptions server_only;
  server_only.pem_root_certs = *server_ca;
  tls.server_only = grpc::SslCredentials(server_only);
  tls.host.reserve(o.hosts);
  const absl::Time now = absl::Now();
  for (int64_t h = 0; h < o.hosts; ++h) {
    const std::string id = HostId(o.host_prefix, h);
    // As an updater enrols: the key is made here, the CA signs its CSR.
    absl::StatusOr<std::string> key = pki::GenerateKeyPem();
    if (!key.ok()) return key.status();
    absl::StatusOr<std::string> csr = pki::MakeCsrPem(*key, id);
    if (!csr.ok()) return csr.status();
    // Backdated a little: the coordinator's clock may be behind ours.
    absl::StatusOr<pki::IssuedCertificate> cert =
        ca->IssueHostCertificate(*csr, o.fleet, id, o.channel_id, absl::Hours(24), now - absl::Minutes(5));
    if (!cert.ok()) return Named("hosts", cert.status());
    grpc::SslCredentialsOptions mtls;
    mtls.pem_root_certs = *server_ca;
    mtls.pem_private_key = *key;
    mtls.pem_cert_chain = cert->cert_pem;
    tls.host.push_back(grpc::SslCredentials(mtls));
  }
  return tls;
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  if (path.empty()) return absl::InvalidArgumentError("--operator_token_file is empty");
  // A token others may read is as good as theirs: refused, as the coordinator refuses such key files.
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && (st.st_mode & 0007) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "--operator_token_file: \"%s\" has mode %04o, so any user may read the token: run `chmod 600 %s`", path,
        st.st_mode & 07777, path));
  }
  absl::StatusOr<std::string> content = pki::ReadFile(path);
  if (!content.ok()) return Named("operator_token_file", content.status());
  std::string token(absl::StripAsciiWhitespace(content->substr(0, content->find('\n'))));
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("--operator_token_file: \"", path, "\" is empty"));
  }
  return token;
}

}  // namespace drover::bench
