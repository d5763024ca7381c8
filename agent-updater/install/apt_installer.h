// Installs an agent's .deb from its own apt repository, held at the installed
// version so that a plain `apt upgrade` cannot move it.
//
// Every apt call sees only the agent's source list (apt-get update refreshes
// only it; install and queries read only its indexes plus what dpkg has
// installed), so the version comes from the repository the operator pinned,
// verified against that list's signed-by key, which every entry must have
// (a keyring file only root can change; agent.apt.keyring pins which one).
// Unsigned or badly signed repositories are refused; --allow-unauthenticated is never used and
// insecure repositories are forbidden explicitly, whatever apt.conf says.
// Limitation of that choice: a new agent version that needs a dependency not
// yet installed, from another repository, fails (Internal, quoting apt).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent-updater/install/installer.h"
#include "common/semver.h"
#include "common/subprocess.h"
#include "drover/v1/updater_config.pb.h"

namespace drover::updater {

class AptInstaller final : public Installer {
 public:
  struct Options {
    // apt-get update of the agent's list.
    absl::Duration update_timeout = absl::Minutes(5);
    // apt-get install (download, unpack, configure).
    absl::Duration install_timeout = absl::Minutes(15);
    // dpkg-query, apt-cache, apt-mark.
    absl::Duration query_timeout = absl::Minutes(1);
    // How long apt waits for another apt/dpkg to release its lock
    // (DPkg::Lock::Timeout) before giving up with Unavailable.
    absl::Duration lock_timeout = absl::Minutes(2);
  };

  // Validates the configuration; errors are InvalidArgument naming the field
  // ("agent.name", "agent.apt.source_list").
  static absl::StatusOr<std::unique_ptr<AptInstaller>> Create(const std::string& package,
                                                              const drover::v1::AptInstaller& config);
  static absl::StatusOr<std::unique_ptr<AptInstaller>> Create(const std::string& package,
                                                              const drover::v1::AptInstaller& config,
                                                              const Options& options);

  std::string Name() const override { return "apt"; }

  // From dpkg-query. nullopt when the package is not installed, or only
  // half-installed (an interrupted dpkg run; Install repairs it). Installed
  // but not held (the updater was killed between install and hold), it puts
  // the hold back. FailedPrecondition when the version is not semver.
  absl::StatusOr<std::optional<std::string>> InstalledVersion() override;

  // apt-get update (the agent's list only), finds the package version that
  // is `version` in semver terms, apt-get install pkg=that (up or down, held
  // or not), apt-mark hold. PermissionDenied names the source list when the
  // repository is unsigned, signed by another key, or a package does not
  // match the signed index; NotFound lists the versions the repository has;
  // Unavailable when apt is locked or the repository unreachable.
  absl::Status Install(const std::string& version) override;
  absl::Status Rollback(const std::string& previous_version) override { return Install(previous_version); }

  const std::string& package() const { return package_; }
  const std::string& source_list() const { return source_list_; }

 private:
  AptInstaller(std::string package, std::string source_list, std::string keyring,
               std::vector<std::string> extra_options, Options options)
      : package_(std::move(package)),
        source_list_(std::move(source_list)),
        keyring_(std::move(keyring)),
        extra_options_(std::move(extra_options)),
        options_(options) {}

  // `tool` with the options every apt call gets: only the agent's list,
  // no insecure repositories, the lock timeout, then the configured extras.
  std::vector<std::string> AptCommand(const std::string& tool) const;
  absl::StatusOr<CommandOutput> Run(const std::vector<std::string>& argv, absl::Duration timeout) const;
  // PermissionDenied when the source list turns verification off
  // ([trusted=yes], allow-insecure): apt would then accept anything; or
  // when an entry has no signed-by keyring (apt would then trust every key
  // in trusted.gpg.d), or another one than agent.apt.keyring.
  // FailedPrecondition when the list or a keyring can be changed by others.
  absl::Status CheckSourceList() const;
  absl::Status Update() const;
  // The repository's version string (e.g. "1.4.0~rc.1-1") that is `wanted`.
  absl::StatusOr<std::string> FindPackageVersion(const Semver& wanted) const;
  absl::Status InstallPackageVersion(const std::string& package_version) const;
  absl::Status Hold() const;
  // Maps a failed apt run to a status; `what` says what was being done.
  absl::Status Failure(const std::string& what, const CommandOutput& out) const;

  const std::string package_;
  const std::string source_list_;
  const std::string keyring_;  // agent.apt.keyring; may be empty
  const std::vector<std::string> extra_options_;
  const Options options_;
};

// The keyring files the entries of an apt source list pin with signed-by
// (`deb [signed-by=/k.gpg] URI suite`, or `Signed-By: /k.gpg` in a deb822
// .sources file, chosen by `deb822`). PermissionDenied naming `path` and the
// entry when one has no signed-by, names a fingerprint or an inline key
// instead of a keyring file, turns verification off (trusted,
// allow-insecure, allow-weak), or names another keyring than `pinned` (when
// not empty); InvalidArgument when the list has no entry. Pure: the caller
// checks the files themselves.
absl::StatusOr<std::vector<std::string>> SignedByKeyrings(absl::string_view content, absl::string_view path,
                                                          bool deb822, absl::string_view pinned);

}  // namespace drover::updater
