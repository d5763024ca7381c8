#include "coordinator/store/pg_rows.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/maintenance_window.h"
#include "coordinator/store/pg_values.h"

namespace drover::store {

absl::Time TimeColumn(const pqxx::row& row, const char* column) {
  return store::FromUnixMicros(row[column].as<int64_t>());
}

std::optional<absl::Time> OptionalTimeColumn(const pqxx::row& row, const char* column) {
  const pqxx::field f = row[column];
  if (f.is_null()) return std::nullopt;
  return store::FromUnixMicros(f.as<int64_t>());
}

absl::StatusOr<rollout::Channel> ChannelFromRow(const pqxx::row& row) {
  rollout::Channel c;
  c.id = row["name"].as<std::string>();
  if (!row["target_version"].is_null()) c.target_version = row["target_version"].as<std::string>();
  c.target_allows_downgrade = row["target_allows_downgrade"].as<bool>();
  c.target_updated_at = OptionalTimeColumn(row, "target_updated_at_us");
  c.target_epoch = row["target_epoch"].as<int64_t>();
  c.critical = row["critical"].as<bool>();
  c.critical_reason = row["critical_reason"].as<std::string>();
  c.critical_updated_at = OptionalTimeColumn(row, "critical_updated_at_us");
  c.control_plane_version = row["control_plane_version"].as<std::string>();
  c.follows_control_plane = row["follows_control_plane"].as<bool>();
  absl::StatusOr<std::vector<MaintenanceWindow>> windows =
      DecodeWindows(row["maintenance_windows"].as<std::string>());
  if (!windows.ok()) {
    return absl::DataLossError(absl::StrCat("channel \"", c.id, "\": ", windows.status().message()));
  }
  c.maintenance_windows = *std::move(windows);
  c.poll_interval = absl::Milliseconds(row["poll_interval_ms"].as<int64_t>());
  c.created_at = TimeColumn(row, "created_at_us");
  c.updated_at = TimeColumn(row, "updated_at_us");
  c.generation = row["generation"].as<int64_t>();
  if (!row["last_target_version"].is_null()) c.last_target_version = row["last_target_version"].as<std::string>();
  c.last_target_allows_downgrade = row["last_target_allows_downgrade"].as<bool>();
  c.rollout_id = row["rollout_id"].as<int64_t>();
  c.rollout_start_version = row["rollout_start_version"].as<std::string>();
  const int mode = row["rollout_mode"].as<int>();
  if (mode < 0 || mode > 2) {
    return absl::DataLossError(absl::StrCat("channel \"", c.id, "\": unknown rollout mode ", mode));
  }
  c.rollout_mode = static_cast<rollout::Channel::RolloutMode>(mode);
  c.rollout_catch_all_off = row["rollout_catch_all_off"].as<bool>();
  const std::string listed = row["rollout_listed_groups"].as<std::string>();
  if (!listed.empty()) c.rollout_listed_groups = absl::StrSplit(listed, ',');
  return c;
}

absl::Status ChannelNotFound(const std::string& id) {
  return absl::NotFoundError(absl::StrCat("channel \"", id, "\" not found"));
}

}  // namespace drover::store
