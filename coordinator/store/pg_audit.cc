// PgStore: operator tokens and the audit trail.
#include "coordinator/store/pg_audit.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/store/pg_rows.h"
#include "coordinator/store/pg_store.h"
#include "coordinator/store/sql_files.h"

namespace drover::store {
namespace {

OperatorRecord OperatorFromRow(const pqxx::row& row) {
  return {.name = row["name"].as<std::string>(),
          .role = row["role"].as<std::string>(),
          .created_at = TimeColumn(row, "created_at_us"),
          .created_by = row["created_by"].as<std::string>(),
          .expires_at = OptionalTimeColumn(row, "expires_at_us"),
          .revoked_at = OptionalTimeColumn(row, "revoked_at_us")};
}

std::optional<int64_t> Micros(const std::optional<absl::Time>& t) {
  if (!t.has_value()) return std::nullopt;
  return absl::ToUnixMicros(*t);
}

}  // namespace

void InsertAuditEvent(pqxx::transaction_base& tx, const AuditRecord& r) {
  tx.exec_params0(Sql("audit_insert"), r.actor, r.peer, r.method, r.object, r.old_value, r.new_value,
                  r.ok ? "ok" : "refused", r.reason);
}

absl::Status PgStore::RecordAudit(const AuditRecord& record) {
  return pool_
      .Run<bool>("recording an audit event",
                 [&](pqxx::connection& c) -> absl::StatusOr<bool> {
                   pqxx::work tx(c);
                   InsertAuditEvent(tx, record);
                   tx.commit();
                   return true;
                 })
      .status();
}

absl::StatusOr<std::vector<AuditRecord>> PgStore::ListAuditEvents(const AuditFilter& f) {
  return RunRead<std::vector<AuditRecord>>(
      "listing audit events", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<AuditRecord>> {
        pqxx::read_transaction tx(c);
        std::vector<AuditRecord> out;
        const std::string result = !f.ok.has_value() ? "" : *f.ok ? "ok" : "refused";
        for (const pqxx::row& row : tx.exec_params(Sql("audit_list"), f.actor, f.object, f.method, result,
                                                   Micros(f.since), Micros(f.until), f.before_id, f.limit)) {
          out.push_back({.id = row["id"].as<int64_t>(),
                         .at = TimeColumn(row, "at_us"),
                         .actor = row["actor"].as<std::string>(),
                         .peer = row["peer"].as<std::string>(),
                         .method = row["method"].as<std::string>(),
                         .object = row["object"].as<std::string>(),
                         .old_value = row["old_value"].as<std::string>(),
                         .new_value = row["new_value"].as<std::string>(),
                         .ok = row["result"].as<std::string>() == "ok",
                         .reason = row["reason"].as<std::string>()});
        }
        return out;
      });
}

absl::StatusOr<OperatorRecord> PgStore::CreateOperator(const OperatorRecord& op, const std::string& token_sha256,
                                                       const AuditRecord* audit) {
  return pool_.Run<OperatorRecord>(
      "creating operator token", [&](pqxx::connection& c) -> absl::StatusOr<OperatorRecord> {
        pqxx::work tx(c);
        pqxx::result r = tx.exec_params(Sql("operator_insert"), op.name, op.role, token_sha256, op.created_by,
                                        Micros(op.expires_at));
        if (r.empty()) {
          return absl::AlreadyExistsError(absl::StrCat(
              "operator \"", op.name, "\" already has a token that is not revoked; revoke it first or pick another name"));
        }
        OperatorRecord created = OperatorFromRow(r[0]);
        if (audit != nullptr) {
          AuditRecord a = *audit;
          a.object = absl::StrCat("operators/", op.name);
          a.new_value = absl::StrCat("role=", created.role, " expires=",
                                     created.expires_at ? absl::FormatTime(*created.expires_at, absl::UTCTimeZone())
                                                        : "never");
          InsertAuditEvent(tx, a);
        }
        tx.commit();
        return created;
      });
}

absl::StatusOr<OperatorRecord> PgStore::FindOperatorByTokenHash(const std::string& token_sha256) {
  return pool_.Run<OperatorRecord>("checking operator token",
                                   [&](pqxx::connection& c) -> absl::StatusOr<OperatorRecord> {
                                     pqxx::read_transaction tx(c);
                                     pqxx::result r = tx.exec_params(Sql("operator_by_hash"), token_sha256);
                                     if (r.empty()) return absl::NotFoundError("unknown operator token");
                                     return OperatorFromRow(r[0]);
                                   });
}

absl::StatusOr<std::vector<OperatorRecord>> PgStore::ListOperators(bool include_revoked) {
  return pool_.Run<std::vector<OperatorRecord>>(
      "listing operator tokens", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<OperatorRecord>> {
        pqxx::read_transaction tx(c);
        std::vector<OperatorRecord> out;
        for (const pqxx::row& row : tx.exec_params(Sql("operator_list"), include_revoked)) {
          out.push_back(OperatorFromRow(row));
        }
        return out;
      });
}

absl::StatusOr<OperatorRecord> PgStore::RevokeOperator(const std::string& name, const AuditRecord* audit) {
  return pool_.Run<OperatorRecord>(
      "revoking operator token", [&](pqxx::connection& c) -> absl::StatusOr<OperatorRecord> {
        pqxx::work tx(c);
        pqxx::result r = tx.exec_params(Sql("operator_revoke"), name);
        if (r.empty()) {
          return absl::NotFoundError(absl::StrCat("no operator \"", name, "\" with a token that is not revoked"));
        }
        OperatorRecord revoked = OperatorFromRow(r[0]);
        if (audit != nullptr) {
          AuditRecord a = *audit;
          a.object = absl::StrCat("operators/", name);
          a.old_value = absl::StrCat("role=", revoked.role, " active");
          a.new_value = "revoked";
          InsertAuditEvent(tx, a);
        }
        tx.commit();
        return revoked;
      });
}

}  // namespace drover::store
