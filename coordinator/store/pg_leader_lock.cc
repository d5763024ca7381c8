#include "coordinator/store/pg_leader_lock.h"

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "coordinator/store/pg_errors.h"
#include "coordinator/store/pg_pool.h"
#include "coordinator/store/sql_files.h"

namespace drover::store {

struct PgLeaderLock::Session {
  explicit Session(const std::string& url) : conn(WithNetworkTimeouts(url)) {}
  pqxx::connection conn;
};

PgLeaderLock::PgLeaderLock(std::string url, int64_t key) : url_(std::move(url)), key_(key) {}

PgLeaderLock::~PgLeaderLock() { Release(); }

absl::StatusOr<bool> PgLeaderLock::Hold() {
  std::lock_guard<std::mutex> lock(mu_);
  try {
    if (session_ == nullptr || !session_->conn.is_open()) {
      held_ = false;
      session_ = std::make_unique<Session>(url_);
      // The server's side of the session: if the leader's machine dies or
      // is cut off (no FIN, no RST), PostgreSQL would keep the lock until
      // its own keepalive gives up, two hours by default. With these it
      // ends the session, and frees the lock, within about 25 s.
      pqxx::nontransaction setup(session_->conn);
      setup.exec0(Sql("leader_session_keepalives"));
    }
    pqxx::nontransaction tx(session_->conn);
    // Held: ask the server, not our memory. A session the server ended (a
    // restart, a terminated backend) must not go on believing it leads.
    held_ = tx.exec_params1(Sql(held_ ? "leader_holds_lock" : "leader_try_lock"), key_)[0].as<bool>();
    return held_;
  } catch (const std::exception& e) {
    held_ = false;
    session_.reset();  // a fresh session next time; the old one's lock dies with it
    return PgErrorToStatus(e, "holding the rollout engine's leader lock");
  }
}

void PgLeaderLock::Release() {
  std::lock_guard<std::mutex> lock(mu_);
  if (session_ == nullptr) return;
  try {
    if (held_ && session_->conn.is_open()) {
      pqxx::nontransaction tx(session_->conn);
      tx.exec_params1(Sql("leader_unlock"), key_);
    }
  } catch (const std::exception& e) {
    // Closing the session below frees the lock all the same.
    LogWarning(absl::StrCat("releasing the leader lock: ", PgErrorToStatus(e, "leader unlock").message()));
  }
  held_ = false;
  session_.reset();
}

}  // namespace drover::store
