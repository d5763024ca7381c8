// How an agent's software is changed. Every implementation verifies
// authenticity before anything changes, and leaves the agent on the old or
// the new version when interrupted at any step, never half-installed.
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace drover::updater {

class Installer {
 public:
  virtual ~Installer() = default;

  // "apt", "dnf", "tarball".
  virtual std::string Name() const = 0;

  // The installed version (normalised semver), or nullopt when the agent is
  // not installed at all.
  virtual absl::StatusOr<std::optional<std::string>> InstalledVersion() = 0;

  // Installs exactly `version`, which may be below the installed one (a
  // roll-back). Refuses (PermissionDenied) anything whose signature does not
  // verify; NotFound when the version does not exist in the source.
  // Does not restart the agent.
  virtual absl::Status Install(const std::string& version) = 0;

  // Returns to `previous_version` after a failed update: the same as
  // Install(previous_version), but may use what is kept locally.
  virtual absl::Status Rollback(const std::string& previous_version) = 0;

  // Called once `version` ran healthy after an update. An installer that
  // keeps earlier versions keeps the last good one (not a broken one that
  // was rolled back). Others need not care.
  virtual absl::Status MarkGood(const std::string& version) { return absl::OkStatus(); }
};

}  // namespace drover::updater
