// Storage of operator identities and of the audit trail (issue 14).
//
// Every mutation writes its AuditRecord in its own transaction: a store
// method that changes something takes `const AuditRecord* audit` and, when
// it is set, inserts the row (PgStore: InsertAuditEvent in pg_audit.h) just
// before it commits, so the change and its record commit or vanish together.
// A refused mutation is recorded by the API with AuditStore::RecordAudit, in
// a transaction of its own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace drover::store {

// One row of audit_events.
struct AuditRecord {
  int64_t id = 0;      // set when read
  absl::Time at;       // set when read (the database's clock)
  std::string actor;   // operator name, "anonymous", or "" (not authenticated)
  std::string peer;    // gRPC peer address
  std::string method;  // full method name, e.g. drover.v1.OperatorService.SetTargetVersion
  std::string object;  // e.g. "channels/stable/cloud", "operators/alice"
  std::string old_value;
  std::string new_value;
  bool ok = true;      // false: refused
  std::string reason;  // why refused
};

struct AuditFilter {
  std::string actor;   // empty: any
  std::string object;  // empty: any
  std::string method;  // empty: any; else the full name or its last part
  std::optional<bool> ok;
  std::optional<absl::Time> since;  // at >= since
  std::optional<absl::Time> until;  // at < until
  int64_t before_id = 0;            // 0: from the newest
  int limit = 100;
};

// An operator token as stored (never the token itself).
struct OperatorRecord {
  std::string name;
  std::string role;  // "viewer", "operator" or "admin"
  absl::Time created_at;
  std::string created_by;
  std::optional<absl::Time> expires_at;
  std::optional<absl::Time> revoked_at;
};

class AuditStore {
 public:
  virtual ~AuditStore() = default;
  // In a transaction of its own: for refusals, whose change never happened.
  virtual absl::Status RecordAudit(const AuditRecord& record) = 0;
  // Newest first.
  virtual absl::StatusOr<std::vector<AuditRecord>> ListAuditEvents(const AuditFilter& filter) = 0;
};

class OperatorStore {
 public:
  virtual ~OperatorStore() = default;
  // `token_sha256` is hex (64 characters). AlreadyExists when a token of that
  // name is not revoked. `audit` (with
  // new_value filled in here) commits with the token.
  virtual absl::StatusOr<OperatorRecord> CreateOperator(const OperatorRecord& op, const std::string& token_sha256,
                                                        const AuditRecord* audit) = 0;
  // NotFound when no token has this hash (revoked and expired ones are found).
  virtual absl::StatusOr<OperatorRecord> FindOperatorByTokenHash(const std::string& token_sha256) = 0;
  virtual absl::StatusOr<std::vector<OperatorRecord>> ListOperators(bool include_revoked) = 0;
  // NotFound when no unrevoked token has this name.
  virtual absl::StatusOr<OperatorRecord> RevokeOperator(const std::string& name, const AuditRecord* audit) = 0;
};

}  // namespace drover::store
