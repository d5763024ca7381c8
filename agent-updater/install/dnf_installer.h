// Installs an agent's rpm from its own dnf repository, with package
// signatures always checked, and keeps dnf from moving it afterwards.
//
// Only the agent's repository is enabled (--disablerepo='*'
// --enablerepo=ID), and package and metadata signatures are checked against
// the pinned local key whatever the .repo file says (--setopt=ID.gpgcheck=1
// ID.repo_gpgcheck=1 ID.gpgkey=file://<agent.dnf.gpgkey_file>), after the
// updater checked that the file holds exactly the key whose fingerprint the
// config pins: no key is imported from a URL. Its metadata is refreshed
// first (--refresh).
// An older version is installed with `dnf install name-version`, which dnf
// performs as a downgrade.
//
// The version lock is an `excludepkgs=<name>` in the [main] section of the
// main dnf configuration (<install_root>/etc/dnf/dnf.conf, else
// /etc/dnf/dnf.conf): excluded, the package is invisible to a plain
// `dnf upgrade`/`install`/`downgrade` from every repository, and the updater
// lifts the exclude only for its own runs (--disableexcludes=main). Chosen
// over the versionlock plugin because it needs nothing beyond dnf itself
// (Debian's dnf ships without dnf-plugins-core), works the same with
// --installroot (plugin configuration is always read from the host), and an
// exclude in [main] also covers repositories added later. The lock is written
// before the transaction, so no moment exists where the new version is
// installed but unlocked.
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
#include "common/subprocess.h"
#include "drover/v1/updater_config.pb.h"

namespace drover::updater {

class DnfInstaller final : public Installer {
 public:
  struct Options {
    // One dnf transaction, metadata refresh included.
    absl::Duration install_timeout = absl::Minutes(15);
    // rpm -q.
    absl::Duration query_timeout = absl::Minutes(1);
    // Used as the starting point of <install_root>/etc/dnf/dnf.conf when the
    // root has none (dnf itself then falls back to the host's file).
    std::string host_config = "/etc/dnf/dnf.conf";
  };

  // Validates the configuration; errors are InvalidArgument naming the field
  // ("agent.name", "agent.dnf.repo_id", ...).
  static absl::StatusOr<std::unique_ptr<DnfInstaller>> Create(const std::string& package,
                                                              const drover::v1::DnfInstaller& config);
  static absl::StatusOr<std::unique_ptr<DnfInstaller>> Create(const std::string& package,
                                                              const drover::v1::DnfInstaller& config,
                                                              const Options& options);

  std::string Name() const override { return "dnf"; }

  // rpm [--root ROOT] -q --qf %{VERSION} name; nullopt when not installed.
  // FailedPrecondition when the version is not semver or several are installed.
  absl::StatusOr<std::optional<std::string>> InstalledVersion() override;

  // Locks the package (see above), then installs exactly name-version from
  // the agent's repository, up or down. PermissionDenied (naming the
  // repository) when a package or the metadata is unsigned or signed by
  // another key; NotFound when the repository lacks the version; Unavailable
  // when it cannot be reached.
  absl::Status Install(const std::string& version) override;
  absl::Status Rollback(const std::string& previous_version) override { return Install(previous_version); }

  // Where the lock is written.
  std::string MainConfigPath() const;

 private:
  DnfInstaller(std::string package, drover::v1::DnfInstaller config, std::string fingerprint, Options options)
      : package_(std::move(package)),
        config_(std::move(config)),
        fingerprint_(std::move(fingerprint)),
        options_(std::move(options)) {}

  // FailedPrecondition when the key file can be changed by others;
  // PermissionDenied when it does not hold exactly the pinned key.
  absl::Status CheckKeyFile() const;

  // dnf with the options every call gets: only the agent's repository,
  // gpgcheck forced on, our own exclude lifted.
  std::vector<std::string> DnfCommand() const;
  absl::StatusOr<CommandOutput> Run(const std::vector<std::string>& argv, absl::Duration timeout) const;
  absl::Status LockVersion() const;
  absl::Status Failure(const std::string& what, const CommandOutput& out) const;
  std::string RepoForMessage() const;

  const std::string package_;
  const drover::v1::DnfInstaller config_;
  const std::string fingerprint_;  // normalised: upper-case hex, no spaces
  const Options options_;
};

// `dnf_conf` with `package` added to the excludepkgs of its [main] section
// (creating the section or the option when missing); unchanged when the
// package is already excluded there. Other lines are kept as they are.
std::string AddDnfExclude(absl::string_view dnf_conf, absl::string_view package);

// The primary-key fingerprints in `gpg --with-colons --show-keys` output,
// in order (upper-case hex). Pure.
std::vector<std::string> PrimaryFingerprints(absl::string_view gpg_colons);

}  // namespace drover::updater
