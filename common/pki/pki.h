// Drover's X.509 material, on OpenSSL 3 (EVP and X509 APIs only): the
// coordinator's CA, host certificates whose URI SAN names the host
// (spiffe://<fleet>/host/<host_id>), the keys and CSRs updaters make, and
// the permission check every private-key file passes. No gRPC here: the
// coordinator, the updater and the tests share it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace drover::pki {

// The URI SAN of a host certificate.
std::string HostSpiffeId(absl::string_view fleet, absl::string_view host_id);
// The host id in `uri` when it is spiffe://<fleet>/host/<id>; NotFound otherwise.
absl::StatusOr<std::string> HostIdFromSpiffeId(absl::string_view uri, absl::string_view fleet);
// A fleet name is a SPIFFE trust domain: lowercase letters, digits, ".-_".
absl::Status ValidateFleetName(absl::string_view fleet);

// A private key's file: refused (FailedPrecondition naming the file and its
// mode) when others may read or write it; its content otherwise.
absl::StatusOr<std::string> ReadPrivateKeyFile(const std::string& path);
// Any file, e.g. a certificate; NotFound / PermissionDenied naming it.
absl::StatusOr<std::string> ReadFile(const std::string& path);
// Written to path.tmp with `mode`, then renamed over `path`.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view content, int mode);

// A new join token: "drover-join-" and 64 hex digits (256 random bits).
absl::StatusOr<std::string> NewJoinToken();
// Lowercase hex SHA-256 of `data`: how join tokens are stored.
std::string Sha256Hex(absl::string_view data);

// A fresh ECDSA P-256 private key, PKCS#8 PEM.
absl::StatusOr<std::string> GenerateKeyPem();
// A CSR signed by `key_pem` with subject CN=<common_name>: proof that the
// requester holds the key.
absl::StatusOr<std::string> MakeCsrPem(absl::string_view key_pem, absl::string_view common_name);

struct CertificateInfo {
  std::string serial_hex;  // uppercase hex, as PostgreSQL stores it
  std::string subject_cn;
  std::string subject_ou;
  std::vector<std::string> uri_sans;
  absl::Time not_before;
  absl::Time not_after;
};
// The first certificate of a PEM text.
absl::StatusOr<CertificateInfo> ParseCertificatePem(absl::string_view pem);

// Checks `cert_pem` (the first certificate) chains to `ca_pem` and is valid
// at `now`; PermissionDenied saying why not.
absl::Status VerifyCertificate(absl::string_view cert_pem, absl::string_view ca_pem, absl::Time now);

struct IssuedCertificate {
  std::string cert_pem;
  std::string serial_hex;
  absl::Time not_after;
};

struct KeyAndCertificate {
  std::string key_pem;
  std::string cert_pem;
};

class CertificateAuthority {
 public:
  // A new self-signed CA (ECDSA P-256) named after the fleet.
  static absl::StatusOr<KeyAndCertificate> Create(absl::string_view fleet, absl::Duration validity, absl::Time now);
  // The CA of a certificate and its key; InvalidArgument when they do not
  // match or the certificate is no CA.
  static absl::StatusOr<CertificateAuthority> Load(absl::string_view cert_pem, absl::string_view key_pem);

  CertificateAuthority(CertificateAuthority&&) noexcept;
  CertificateAuthority& operator=(CertificateAuthority&&) noexcept;
  ~CertificateAuthority();

  const std::string& cert_pem() const { return cert_pem_; }

  // A TLS server certificate with a new key: DNS and IP SANs from `names`
  // (an IPv4/IPv6 literal becomes an IP SAN).
  absl::StatusOr<KeyAndCertificate> IssueServerCertificate(const std::vector<std::string>& names,
                                                           absl::Duration validity, absl::Time now) const;
  // A client certificate for the key of `csr_pem` (whose signature is
  // checked): URI SAN spiffe://<fleet>/host/<host_id>, subject
  // CN=<host_id>, OU=<channel> (the channel it was enrolled for), clientAuth
  // only, a random 127-bit serial. InvalidArgument for a bad CSR.
  absl::StatusOr<IssuedCertificate> IssueHostCertificate(absl::string_view csr_pem, absl::string_view fleet,
                                                         absl::string_view host_id, absl::string_view channel,
                                                         absl::Duration validity, absl::Time now) const;

 private:
  CertificateAuthority() = default;
  void* cert_ = nullptr;  // X509*
  void* key_ = nullptr;   // EVP_PKEY*
  std::string cert_pem_;
};

}  // namespace drover::pki
