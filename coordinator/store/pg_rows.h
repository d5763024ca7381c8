// What the PgStore files (pg_channels, pg_agents, pg_ingest, pg_counters)
// share: decoding rows by column name and the errors they name.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <pqxx/pqxx>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "coordinator/rollout/model.h"

namespace drover::store {

// A time selected as `..._us` (Unix microseconds; NULL: none).
absl::Time TimeColumn(const pqxx::row& row, const char* column);
std::optional<absl::Time> OptionalTimeColumn(const pqxx::row& row, const char* column);

// A row selected with sql/channel_columns.sql.
absl::StatusOr<rollout::Channel> ChannelFromRow(const pqxx::row& row);

absl::Status ChannelNotFound(const std::string& id);

// A duration as the SQL files take it: whole milliseconds.
inline int64_t Millis(absl::Duration d) { return absl::ToInt64Milliseconds(d); }

}  // namespace drover::store
