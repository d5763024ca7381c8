// Storage of host identities: join tokens and the certificates the
// coordinator's CA issued (migration 000007). Each mutation is one
// transaction, so an audit row can join it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coordinator/store/audit_store.h"

namespace drover::store {

struct HostCertificateRecord {
  std::string serial_hex;
  std::string host_id;
  std::string channel;
  absl::Time issued_at;
  absl::Time not_after;
  std::string renewed_from;  // serial; empty for an enrolment
};

struct StoredCertificate {
  std::string host_id;
  std::string channel;
  bool revoked = false;
};

class IdentityStore {
 public:
  virtual ~IdentityStore() = default;
  // Records a token by its SHA-256 (hex). NotFound when the channel does not
  // exist. `audit` (may be null) commits with it.
  virtual absl::Status CreateJoinToken(const std::string& token_sha256, const std::string& channel, absl::Time now,
                                       absl::Time expires_at, const AuditRecord* audit = nullptr) = 0;
  // The channel of a token still usable at `now`, without using it;
  // Unauthenticated saying whether it is unknown, used or expired.
  virtual absl::StatusOr<std::string> PeekJoinToken(const std::string& token_sha256, absl::Time now) = 0;
  // Uses the token (Unauthenticated as above when it no longer can be, e.g.
  // another enrolment won the race), revokes the host's earlier
  // certificates and records `cert`, and `audit` (may be null; object and
  // values filled in here), in one transaction.
  virtual absl::Status EnrollHost(const std::string& token_sha256, const HostCertificateRecord& cert,
                                  absl::Time now, const AuditRecord* audit = nullptr) = 0;
  // Records `cert` issued to replace cert.renewed_from, and `audit` (may be
  // null), in one transaction that checks the presented certificate is
  // recorded for the same host and not revoked (PermissionDenied otherwise).
  virtual absl::Status RenewHostCertificate(const HostCertificateRecord& cert, const AuditRecord* audit = nullptr) = 0;
  // NotFound for a serial the store never recorded.
  virtual absl::StatusOr<StoredCertificate> GetCertificate(const std::string& serial_hex) = 0;
  // Revokes every certificate of the host not yet revoked; returns how many.
  // NotFound when the host never enrolled.
  // `audit` (may be null) commits with the revocation.
  virtual absl::StatusOr<int64_t> RevokeHost(const std::string& host_id, absl::Time now,
                                             const AuditRecord* audit = nullptr) = 0;
  // Serials revoked and not expired at `now`: the revocation list.
  virtual absl::StatusOr<std::vector<std::string>> ListRevokedSerials(absl::Time now) = 0;
};

}  // namespace drover::store
