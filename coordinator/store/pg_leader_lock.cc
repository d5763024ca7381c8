#include "coordinator/store/pg_leader_lock.h"

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "coordinator/store/pg_errors.h"
#include "coordinator/store/pg_pool.h"
#include "coordinator/store/sql_files.h"

namespace drover::store {

PgLeaderLock::PgLeaderLock(std::string url, int64_t key) : url_(std::move(url)), key_(key) {}

PgLeaderLock::~PgLeaderLock() { Release(); }

absl::StatusOr<bool> PgLeaderLock::Hold() {
  std::lock_guard<std::mutex> lock(mu_);
  try {
    if (conn_ == nullptr || !conn_->is_open()) {
      held_ = false;
      conn_ = std::make_unique<pqxx::connection>(WithNetworkTimeouts(url_));
    }
    pqxx::nontransaction tx(*conn_);
    // Held: ask the server, not our memory. A session the server ended (a
    // restart, a terminated backend) must not go on believing it leads.
    held_ = tx.exec_params1(Sql(held_ ? "leader_holds_lock" : "leader_try_lock"), key_)[0].as<bool>();
    return held_;
  } catch (const std::exception& e) {
    held_ = false;
    conn_.reset();  // a fresh session next time; the old one's lock dies with it
    return PgErrorToStatus(e, "holding the rollout engine's leader lock");
  }
}

void PgLeaderLock::Release() {
  std::lock_guard<std::mutex> lock(mu_);
  if (conn_ == nullptr) return;
  try {
    if (held_ && conn_->is_open()) {
      pqxx::nontransaction tx(*conn_);
      tx.exec_params1(Sql("leader_unlock"), key_);
    }
  } catch (const std::exception& e) {
    // Closing the session below frees the lock all the same.
    LogWarning(absl::StrCat("releasing the leader lock: ", PgErrorToStatus(e, "leader unlock").message()));
  }
  held_ = false;
  conn_.reset();
}

}  // namespace drover::store
