// PgStore: host identities (join tokens, issued certificates, revocation).
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "coordinator/store/pg_audit.h"
#include "coordinator/store/pg_rows.h"
#include "coordinator/store/pg_store.h"
#include "coordinator/store/pg_values.h"
#include "coordinator/store/sql_files.h"

namespace drover::store {
namespace {

// Why a token read with identity_token_read* cannot be used at `now`; OK
// when it can.
absl::Status TokenUsable(const pqxx::result& r, absl::Time now) {
  if (r.empty()) return absl::UnauthenticatedError("join token unknown: ask an operator for a new one");
  if (r[0]["used"].as<bool>()) {
    return absl::UnauthenticatedError("join token already used (tokens are single-use): ask for a new one");
  }
  const absl::Time expires = TimeColumn(r[0], "expires_at_us");
  if (expires <= now) {
    return absl::UnauthenticatedError(
        absl::StrCat("join token expired at ", absl::FormatTime(absl::RFC3339_sec, expires, absl::UTCTimeZone()),
                     ": ask for a new one"));
  }
  return absl::OkStatus();
}

void InsertCertificate(pqxx::transaction_base& tx, const HostCertificateRecord& c) {
  tx.exec_params0(Sql("identity_cert_insert"), c.serial_hex, c.host_id, c.channel, store::ToUnixMicros(c.issued_at),
                  store::ToUnixMicros(c.not_after), c.renewed_from);
}

std::string CertificateText(const HostCertificateRecord& c) {
  return absl::StrCat("certificate ", c.serial_hex, " for channel \"", c.channel, "\", valid until ",
                      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", c.not_after, absl::UTCTimeZone()));
}

}  // namespace

absl::Status PgStore::CreateJoinToken(const std::string& token_sha256, const std::string& channel, absl::Time now,
                                      absl::Time expires_at, const AuditRecord* audit) {
  return pool_
      .Run<bool>("creating join token",
                 [&](pqxx::connection& c) -> absl::StatusOr<bool> {
                   pqxx::work tx(c);
                   pqxx::result r = tx.exec_params(Sql("identity_token_insert"), token_sha256, channel,
                                                   store::ToUnixMicros(now), store::ToUnixMicros(expires_at));
                   if (r.empty()) return ChannelNotFound(channel);
                   if (audit != nullptr) {
                     // The token is a secret: the row names its channel and expiry only.
                     AuditRecord a = *audit;
                     a.object = absl::StrCat("channels/", channel);
                     a.new_value = absl::StrCat("join token expiring ", absl::FormatTime(expires_at));
                     InsertAuditEvent(tx, a);
                   }
                   tx.commit();
                   return true;
                 })
      .status();
}

absl::StatusOr<std::string> PgStore::PeekJoinToken(const std::string& token_sha256, absl::Time now) {
  return pool_.Run<std::string>("reading join token", [&](pqxx::connection& c) -> absl::StatusOr<std::string> {
    pqxx::read_transaction tx(c);
    pqxx::result r = tx.exec_params(Sql("identity_token_read"), token_sha256);
    if (absl::Status s = TokenUsable(r, now); !s.ok()) return s;
    return r[0]["channel"].as<std::string>();
  });
}

absl::Status PgStore::EnrollHost(const std::string& token_sha256, const HostCertificateRecord& cert, absl::Time now,
                                 const AuditRecord* audit) {
  return pool_
      .Run<bool>("enrolling host",
                 [&](pqxx::connection& c) -> absl::StatusOr<bool> {
                   pqxx::work tx(c);
                   pqxx::result r = tx.exec_params(Sql("identity_token_read_for_use"), token_sha256);
                   if (absl::Status s = TokenUsable(r, now); !s.ok()) return s;
                   if (r[0]["channel"].as<std::string>() != cert.channel) {
                     return absl::InternalError("join token changed channel during enrolment");
                   }
                   tx.exec_params0(Sql("identity_token_use"), token_sha256, cert.host_id, store::ToUnixMicros(now));
                   // One identity per host: a re-enrolled host's older certificates stop working.
                   tx.exec_params(Sql("identity_host_lock"), cert.host_id);
                   pqxx::result revoked =
                       tx.exec_params(Sql("identity_host_revoke"), cert.host_id, store::ToUnixMicros(now));
                   InsertCertificate(tx, cert);
                   if (audit != nullptr) {
                     // The token is a secret: the row names its channel only.
                     AuditRecord a = *audit;
                     a.object = absl::StrCat("hosts/", cert.host_id);
                     std::vector<std::string> serials;
                     for (const pqxx::row& row : revoked) serials.push_back(row["serial"].as<std::string>());
                     a.old_value = serials.empty() ? "" : absl::StrCat("revoked certificate(s) ", absl::StrJoin(serials, ", "));
                     a.new_value = CertificateText(cert);
                     InsertAuditEvent(tx, a);
                   }
                   tx.commit();
                   return true;
                 })
      .status();
}

absl::Status PgStore::RenewHostCertificate(const HostCertificateRecord& cert, const AuditRecord* audit) {
  return pool_
      .Run<bool>("renewing host certificate",
                 [&](pqxx::connection& c) -> absl::StatusOr<bool> {
                   pqxx::work tx(c);
                   pqxx::result r = tx.exec_params(Sql("identity_cert_get_for_renew"), cert.renewed_from);
                   if (r.empty()) {
                     return absl::PermissionDeniedError(
                         absl::StrCat("certificate ", cert.renewed_from, " was not issued by this coordinator"));
                   }
                   if (r[0]["revoked"].as<bool>()) {
                     return absl::PermissionDeniedError(absl::StrCat(
                         "the certificate of host \"", cert.host_id,
                         "\" is revoked: enrol again with a new join token (`droverctl tokens create`)"));
                   }
                   if (r[0]["host_id"].as<std::string>() != cert.host_id ||
                       r[0]["channel"].as<std::string>() != cert.channel) {
                     return absl::PermissionDeniedError("the certificate presented is recorded for another host");
                   }
                   InsertCertificate(tx, cert);
                   if (audit != nullptr) {
                     AuditRecord a = *audit;
                     a.object = absl::StrCat("hosts/", cert.host_id);
                     a.old_value = absl::StrCat("certificate ", cert.renewed_from);
                     a.new_value = CertificateText(cert);
                     InsertAuditEvent(tx, a);
                   }
                   tx.commit();
                   return true;
                 })
      .status();
}

absl::StatusOr<StoredCertificate> PgStore::GetCertificate(const std::string& serial_hex) {
  return pool_.Run<StoredCertificate>("reading certificate",
                                      [&](pqxx::connection& c) -> absl::StatusOr<StoredCertificate> {
                                        pqxx::read_transaction tx(c);
                                        pqxx::result r = tx.exec_params(Sql("identity_cert_get"), serial_hex);
                                        if (r.empty()) {
                                          return absl::NotFoundError(
                                              absl::StrCat("no certificate with serial ", serial_hex));
                                        }
                                        return StoredCertificate{r[0]["host_id"].as<std::string>(),
                                                                 r[0]["channel"].as<std::string>(),
                                                                 r[0]["revoked"].as<bool>()};
                                      });
}

absl::StatusOr<int64_t> PgStore::RevokeHost(const std::string& host_id, absl::Time now, const AuditRecord* audit) {
  return pool_.Run<int64_t>("revoking host", [&](pqxx::connection& c) -> absl::StatusOr<int64_t> {
    pqxx::work tx(c);
    if (tx.exec_params(Sql("identity_host_lock"), host_id).empty()) {
      return absl::NotFoundError(absl::StrCat("host \"", host_id, "\" never enrolled (no certificate was issued to it)"));
    }
    pqxx::result r = tx.exec_params(Sql("identity_host_revoke"), host_id, store::ToUnixMicros(now));
    if (audit != nullptr) {
      AuditRecord a = *audit;
      a.object = absl::StrCat("hosts/", host_id);
      a.new_value = absl::StrCat(r.size(), " certificate(s) revoked");
      InsertAuditEvent(tx, a);
    }
    tx.commit();
    return static_cast<int64_t>(r.size());
  });
}

absl::StatusOr<std::vector<std::string>> PgStore::ListRevokedSerials(absl::Time now) {
  return pool_.Run<std::vector<std::string>>(
      "reading revoked certificates", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<std::string>> {
        pqxx::read_transaction tx(c);
        std::vector<std::string> out;
        for (const pqxx::row& row : tx.exec_params(Sql("identity_revoked_list"), store::ToUnixMicros(now))) {
          out.push_back(row["serial"].as<std::string>());
        }
        return out;
      });
}

}  // namespace drover::store
