// Builds the installer a configuration names.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "agent-updater/install/installer.h"
#include "drover/v1/updater_config.pb.h"

namespace drover::updater {

absl::StatusOr<std::unique_ptr<Installer>> MakeInstaller(const v1::AgentConfig& agent);

}  // namespace drover::updater
