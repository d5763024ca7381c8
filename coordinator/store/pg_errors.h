// libpqxx exceptions -> absl::Status, so that no database text and no pqxx
// type crosses the store's boundary.
#pragma once

#include <exception>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace drover::store {

// Maps a libpqxx exception to a canonical status: lost or refused connections
// and server shutdown -> Unavailable; unique violation -> AlreadyExists;
// serialization failures and deadlocks -> Aborted (retryable); anything else
// -> Internal. `what` says which operation failed. The database's own text
// is logged, never put in the status: statuses reach callers.
absl::Status PgErrorToStatus(const std::exception& e, absl::string_view what);

// Set (as a payload) on the Unavailable of a statement or lock timeout: the
// server answered, it was busy. PgStore::RunRead does not send such a read
// to the primary again.
inline constexpr absl::string_view kTimeoutPayload = "drover.dev/database-timeout";
inline bool IsDatabaseTimeout(const absl::Status& s) { return s.GetPayload(kTimeoutPayload).has_value(); }

// True for statuses worth retrying the whole transaction for.
inline bool IsRetryable(const absl::Status& s) { return s.code() == absl::StatusCode::kAborted; }

}  // namespace drover::store
