#include "coordinator/store/pg_errors.h"

#include <string>

#include <pqxx/pqxx>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/log.h"
#include "common/rpc_reason.h"

namespace drover::store {

absl::Status PgErrorToStatus(const std::exception& e, absl::string_view what) {
  // The database's text goes to the log only: it can quote the request's
  // bytes back, name tables and settings, and is no business of a caller.
  std::string detail = e.what();
  absl::StrReplaceAll({{"\n\t", " | "}, {"\r\n", " | "}, {"\n", " | "}, {"\r", " | "}, {"\t", " "}}, &detail);
  while (absl::EndsWith(detail, " | ") || absl::EndsWith(detail, " ")) {
    detail.resize(detail.size() - (absl::EndsWith(detail, " | ") ? 3 : 1));
  }
  const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e);
  const std::string state = sql != nullptr ? sql->sqlstate() : "";
  LogWarning(absl::StrCat(what, ": PostgreSQL error", state.empty() ? "" : absl::StrCat(" (SQLSTATE ", state, ")"),
                          ": ", detail));
  const std::string unavailable =
      absl::StrCat(what, ": database unavailable (the coordinator's log says why); retry later");
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr ||
      dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return WithReason(absl::UnavailableError(unavailable), kReasonDatabaseUnavailable);
  }
  const std::string conflicted = absl::StrCat(what, ": conflicted with a concurrent change; retry");
  if (dynamic_cast<const pqxx::serialization_failure*>(&e) != nullptr ||
      dynamic_cast<const pqxx::deadlock_detected*>(&e) != nullptr) {
    return absl::AbortedError(conflicted);
  }
  if (sql != nullptr) {
    if (state == "23505") return absl::AlreadyExistsError(absl::StrCat(what, ": already exists"));
    if (state == "40001" || state == "40P01") return absl::AbortedError(conflicted);
    // Connection exceptions, admin shutdown, cannot connect now, read-only
    // standby, out of connections or disk: the database cannot serve now.
    if (state.rfind("08", 0) == 0 || state.rfind("53", 0) == 0 || state == "57P01" || state == "57P02" ||
        state == "57P03" || state == "25006") {
      return WithReason(absl::UnavailableError(unavailable), kReasonDatabaseUnavailable);
    }
    // Statement or lock timeout: busy, worth retrying later.
    if (state == "57014" || state == "55P03") {
      absl::Status s = WithReason(absl::UnavailableError(unavailable), kReasonDatabaseUnavailable);
      s.SetPayload(kTimeoutPayload, absl::Cord(state));
      return s;
    }
  }
  return absl::InternalError(absl::StrCat(what, ": internal database error (logged by the coordinator)"));
}

}  // namespace drover::store
