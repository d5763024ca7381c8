// The change announcement every replica LISTENs to (PgChangeListener): sent
// inside the transaction that changes a channel's answers, so it is
// delivered exactly when the change commits.
#pragma once

#include <string>

#include <pqxx/pqxx>

#include "coordinator/store/sql_files.h"

namespace drover::store {

inline constexpr char kChangesChannel[] = "drover_changes";

inline void NotifyChannelChanged(pqxx::transaction_base& tx, const std::string& channel) {
  tx.exec_params(Sql("change_notify"), channel);
}

}  // namespace drover::store
