// The audit trail in PostgreSQL, for every PgStore file that mutates.
//
// To record a mutation atomically: take `const AuditRecord* audit` in the
// store method, fill in its object, old_value and new_value, and call
// InsertAuditEvent(tx, *audit) before tx.commit(). The API builds the record
// (OperatorService::AuditOf) and records refusals itself.
#pragma once

#include <pqxx/pqxx>

#include "coordinator/store/audit_store.h"

namespace drover::store {

void InsertAuditEvent(pqxx::transaction_base& tx, const AuditRecord& record);

// The same, when `record` is set.
inline void InsertAuditEvent(pqxx::transaction_base& tx, const AuditRecord* record) {
  if (record != nullptr) InsertAuditEvent(tx, *record);
}

}  // namespace drover::store
