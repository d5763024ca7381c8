#include "coordinator/store/migrator.h"

#include <algorithm>
#include <map>
#include <regex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "coordinator/store/pg_errors.h"

namespace drover::store {
namespace {

// Any constant works as long as every replica uses the same one.

}  // namespace

absl::StatusOr<std::vector<Migration>> ParseMigrations(const std::vector<MigrationFile>& files) {
  static const std::regex kName(R"(^(\d+)_([a-z0-9_]+)\.(up|down)\.sql$)");
  std::map<int64_t, Migration> by_version;
  std::map<int64_t, int> halves;
  for (const MigrationFile& f : files) {
    std::smatch m;
    if (!std::regex_match(f.name, m, kName)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "migration file \"", f.name, "\" is not named NNNNNN_title.up.sql or NNNNNN_title.down.sql"));
    }
    int64_t version = 0;
    if (!absl::SimpleAtoi(m[1].str(), &version) || version <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("migration file \"", f.name, "\" has a bad version"));
    }
    Migration& mig = by_version[version];
    if (!mig.title.empty() && mig.title != m[2].str()) {
      return absl::InvalidArgumentError(absl::StrCat("migration version ", version, " is used by both \"",
                                                     mig.title, "\" and \"", m[2].str(), "\""));
    }
    mig.version = version;
    mig.title = m[2].str();
    // Track which halves were seen, not whether the SQL is empty: an empty
    // file repeated must still be caught.
    const int half = m[3] == "up" ? 1 : 2;
    if (halves[version] & half) {
      return absl::InvalidArgumentError(absl::StrCat("migration file \"", f.name, "\" is repeated"));
    }
    (half == 1 ? mig.up : mig.down) = f.sql;
    halves[version] |= half;
  }
  std::vector<Migration> out;
  for (auto& [version, mig] : by_version) {
    if (halves[version] != 3) {
      return absl::InvalidArgumentError(absl::StrCat("migration ", version, "_", mig.title, " lacks its ",
                                                     halves[version] == 1 ? "down" : "up", " file"));
    }
    out.push_back(std::move(mig));
  }
  return out;
}

namespace {

// golang-migrate's table: one row holding the version and a dirty flag.
void EnsureVersionTable(pqxx::connection& conn) {
  pqxx::nontransaction tx(conn);
  tx.exec0("CREATE TABLE IF NOT EXISTS schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)");
}

struct VersionRow {
  int64_t version = 0;
  bool dirty = false;
};

VersionRow ReadVersion(pqxx::transaction_base& tx) {
  pqxx::result r = tx.exec("SELECT version, dirty FROM schema_migrations ORDER BY version DESC LIMIT 1");
  if (r.empty()) return {};
  return {r[0][0].as<int64_t>(), r[0][1].as<bool>()};
}

}  // namespace

absl::StatusOr<int64_t> SchemaVersion(pqxx::connection& conn) {
  try {
    pqxx::read_transaction tx(conn);
    pqxx::result exists = tx.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (!exists[0][0].as<bool>()) return int64_t{0};
    return ReadVersion(tx).version;
  } catch (const std::exception& e) {
    return PgErrorToStatus(e, "reading schema version");
  }
}

absl::StatusOr<MigrateResult> MigrateUp(pqxx::connection& conn, const std::vector<Migration>& migrations,
                                        absl::Duration lock_wait) {
  MigrateResult result;
  try {
    // PostgreSQL's lock_timeout bounds an advisory lock's wait too.
    const bool bounded = lock_wait != absl::InfiniteDuration();
    bool locked = false;
    {
      pqxx::nontransaction lock(conn);
      if (bounded) {
        lock.exec(absl::StrCat("SET lock_timeout = ", std::max<int64_t>(1, absl::ToInt64Milliseconds(lock_wait))));
      }
      try {
        lock.exec_params("SELECT pg_advisory_lock($1)", kMigrationLockId);
        locked = true;
      } catch (const pqxx::sql_error& e) {
        if (e.sqlstate() != "55P03") throw;  // lock_not_available: handled below
      }
    }
    if (!locked) {
      pqxx::nontransaction tx(conn);
      tx.exec("RESET lock_timeout");
      pqxx::result holder = tx.exec_params(
          "SELECT l.pid, coalesce(host(a.client_addr), 'local'), coalesce(a.application_name, ''), "
          "coalesce(a.state, '') "
          "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
          "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
          "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
          "AND ((l.classid::bigint << 32) | l.objid::bigint) = $1",
          kMigrationLockId);
      std::string who = "another session";
      if (!holder.empty()) {
        who = absl::StrCat("PostgreSQL backend ", holder[0][0].as<std::string>(), " (client ",
                           holder[0][1].as<std::string>(),
                           holder[0][2].as<std::string>().empty() ? "" : ", " + holder[0][2].as<std::string>(),
                           ", ", holder[0][3].as<std::string>(), ")");
      }
      return absl::DeadlineExceededError(absl::StrCat(
          who, " has held the schema migration lock for more than ", absl::FormatDuration(lock_wait),
          ": another coordinator is migrating, or is stuck doing so; wait for it, or end that session "
          "(SELECT pg_terminate_backend(pid))"));
    }
    if (bounded) {
      pqxx::nontransaction tx(conn);
      tx.exec("RESET lock_timeout");  // the session's own setting, for the migrations themselves
    }
    struct Unlock {
      pqxx::connection& conn;
      ~Unlock() {
        try {
          pqxx::nontransaction tx(conn);
          tx.exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockId);
        } catch (...) {
          // The lock dies with the session anyway.
        }
      }
    } unlock{conn};

    EnsureVersionTable(conn);
    VersionRow current;
    {
      pqxx::read_transaction tx(conn);
      current = ReadVersion(tx);
    }
    result.from_version = result.to_version = current.version;
    if (current.dirty) {
      return absl::FailedPreconditionError(absl::StrCat(
          "database schema is marked dirty at version ", current.version,
          ": a migration failed half-way; repair the schema by hand, then fix schema_migrations"));
    }
    int64_t newest = migrations.empty() ? 0 : migrations.back().version;
    if (current.version > newest) {
      return absl::FailedPreconditionError(absl::StrCat(
          "database schema version ", current.version, " is newer than this coordinator knows (", newest,
          "): run a newer drover-coordinator"));
    }
    for (const Migration& m : migrations) {
      if (m.version <= current.version) continue;
      pqxx::work tx(conn);
      tx.exec(m.up);
      tx.exec0("DELETE FROM schema_migrations");
      tx.exec_params0("INSERT INTO schema_migrations (version, dirty) VALUES ($1, false)", m.version);
      tx.commit();
      result.to_version = m.version;
      ++result.applied;
    }
  } catch (const std::exception& e) {
    return PgErrorToStatus(e, "applying migrations");
  }
  return result;
}

}  // namespace drover::store
