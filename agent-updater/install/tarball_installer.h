// Installs an agent from signed tarballs, side by side:
//   <install_dir>/versions/<version>/   one unpacked tarball per version
//   <install_dir>/current -> versions/<version>   the active one
//   <install_dir>/staging/              downloads being verified
//   <install_dir>/good                  the versions that ran healthy, newest first
// Kept: the current version and the last good one before it; while an
// update is watched, also the version it replaced (the roll-back target).
// A version that was rolled back from is not kept.
// A version is unpacked into versions/<version>.partial and renamed when
// complete, and `current` is replaced with rename(2), so a kill at any step
// leaves `current` on a complete version (the old or the new one).
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent-updater/install/http_fetch.h"
#include "agent-updater/install/installer.h"
#include "agent-updater/install/signature.h"
#include "drover/v1/updater_config.pb.h"

namespace drover::updater {

class TarballInstaller final : public Installer {
 public:
  struct Options {
    // Downloads of one tarball and one signature; also caps local copies.
    HttpFetchOptions fetch;
    // How long `tar` may take to unpack.
    absl::Duration unpack_timeout = absl::Minutes(5);
  };

  // Validates the configuration (InvalidArgument naming the field, e.g.
  // "agent.tarball.base") and loads the pinned public key, so a bad key is
  // refused at start rather than at the first update.
  static absl::StatusOr<std::unique_ptr<TarballInstaller>> Create(const std::string& agent_name,
                                                                  const drover::v1::TarballInstaller& config);
  static absl::StatusOr<std::unique_ptr<TarballInstaller>> Create(const std::string& agent_name,
                                                                  const drover::v1::TarballInstaller& config,
                                                                  const Options& options);

  std::string Name() const override { return "tarball"; }
  // From the `current` symlink; nullopt when there is none (or it dangles).
  absl::StatusOr<std::optional<std::string>> InstalledVersion() override;
  // Fetches <name>-<version>.tar.gz and its .sig into staging/, verifies the
  // signature, unpacks (or reuses a complete versions/<version>), switches
  // `current`, then deletes every version but the new one, the previous one
  // and the last good one.
  absl::Status Install(const std::string& version) override;
  // Switches back to versions/<previous> when it is kept, else installs it;
  // then deletes the version rolled back from.
  absl::Status Rollback(const std::string& previous_version) override;
  // Records `version` as good and deletes versions other than the current
  // and the last good one.
  absl::Status MarkGood(const std::string& version) override;

  const std::string& install_dir() const { return install_dir_; }

 private:
  enum class BaseKind { kDirectory, kHttp };

  TarballInstaller(std::string agent_name, BaseKind kind, std::string base, std::string install_dir,
                   Ed25519Verifier verifier, Options options)
      : agent_name_(std::move(agent_name)),
        base_kind_(kind),
        base_(std::move(base)),
        install_dir_(std::move(install_dir)),
        verifier_(std::move(verifier)),
        options_(std::move(options)) {}

  std::string VersionsDir() const;
  std::string VersionDir(const std::string& version) const;
  std::string CurrentLink() const;
  std::string StagingDir() const;

  absl::Status EnsureLayout();
  // Copies or downloads `file_name` from the base into `dest`; NotFound when
  // the base does not have it.
  absl::Status Fetch(const std::string& file_name, const std::string& dest);
  absl::Status Unpack(const std::string& tarball, const std::string& version);
  absl::Status InstallVersion(const std::string& version, bool rollback);
  // Points `current` at versions/<version> atomically, then prunes (keeping
  // the version switched from unless this is a roll-back).
  absl::Status SwitchTo(const std::string& version, bool rollback);
  std::string GoodFile() const;
  // From GoodFile(), newest first; empty when there is none.
  std::vector<std::string> GoodVersions() const;
  // Adds to `keep` the newest good version not in it yet.
  void AddLastGood(std::set<std::string>& keep) const;
  // Deletes version directories not in `keep` (with nullopt: only leftovers
  // of interrupted runs), and stray temporary symlinks.
  void Prune(const std::optional<std::set<std::string>>& keep);

  const std::string agent_name_;
  const BaseKind base_kind_;
  const std::string base_;  // directory path, or URL prefix without a trailing '/'
  const std::string install_dir_;
  const Ed25519Verifier verifier_;
  const Options options_;
};

}  // namespace drover::updater
