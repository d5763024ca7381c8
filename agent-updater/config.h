// Loading and checking drover-updater's configuration.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "drover/v1/updater_config.pb.h"

namespace drover::updater {

// Reads a config file: protobuf JSON when it ends in ".json", else protobuf
// text format. Unknown fields and syntax errors are InvalidArgument naming
// the file, line and field.
absl::StatusOr<v1::UpdaterConfig> LoadConfigFile(const std::string& path);

// Fills defaults (host_id from /etc/machine-id, state_dir, durations) and
// checks every field; InvalidArgument naming the first bad field and value.
absl::Status CompleteConfig(v1::UpdaterConfig& config, const std::string& machine_id_path = "/etc/machine-id");

}  // namespace drover::updater
