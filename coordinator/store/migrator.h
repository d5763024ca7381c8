// Applies the golang-migrate style migrations embedded in the binary, under an
// advisory lock so replicas starting together are safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace drover::store {

struct MigrationFile {
  std::string name;  // "000001_initial_schema.up.sql"
  std::string sql;
};

// Every migrations/*.sql file, in name order (generated at build time).
const std::vector<MigrationFile>& EmbeddedMigrationFiles();

struct Migration {
  int64_t version = 0;
  std::string title;
  std::string up;
  std::string down;
};

// Pairs up/down files; InvalidArgument naming the file for a bad name, a
// missing half or a repeated version.
absl::StatusOr<std::vector<Migration>> ParseMigrations(const std::vector<MigrationFile>& files);

struct MigrateResult {
  int64_t from_version = 0;
  int64_t to_version = 0;
  int applied = 0;
};

// The advisory lock migrations run under, so replicas starting together take turns.
inline constexpr int64_t kMigrationLockId = 0x64726f766572;  // "drover"

// Brings the schema up to the newest migration. FailedPrecondition when the
// database is marked dirty or is newer than every migration we know;
// DeadlineExceeded, naming the holder, when another session keeps the
// migration lock for longer than `lock_wait`.
absl::StatusOr<MigrateResult> MigrateUp(pqxx::connection& conn, const std::vector<Migration>& migrations,
                                        absl::Duration lock_wait = absl::InfiniteDuration());

// Current schema version (0 when none).
absl::StatusOr<int64_t> SchemaVersion(pqxx::connection& conn);

}  // namespace drover::store
