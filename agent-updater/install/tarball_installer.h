// Installs an agent from tarballs with signed manifests, side by side:
//   <install_dir>/versions/<version>/   one unpacked tarball per version
//   <install_dir>/versions/<version>.verified  its signed manifest, written
//                                       only once the tree was unpacked from
//                                       a verified tarball; a version
//                                       directory without it is never reused
//   <install_dir>/current -> versions/<version>   the active one
//   <install_dir>/staging/              downloads being verified (unnamed
//                                       files: nothing can open them by path)
//   <install_dir>/good                  the versions that ran healthy, newest first
// Kept: the current version and the last good one before it; while an
// update is watched, also the version it replaced (the roll-back target).
// A version that was rolled back from is not kept.
// An install fetches <name>-<version>.tar.gz.manifest, verifies it (name,
// version, signature: artifact_manifest.h), downloads at most its size
// bytes while hashing them, checks size and SHA-256, and unpacks from that
// same open file (tar_extractor.h) into versions/<version>.partial.XXXXXX,
// which is renamed (exchanged, when an unverified directory is in the way)
// into place when complete. `current` is replaced with rename(2), so a kill
// at any step leaves `current` on a complete version (the old or the new one).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent-updater/install/artifact_manifest.h"
#include "agent-updater/install/http_fetch.h"
#include "agent-updater/install/installer.h"
#include "agent-updater/install/signature.h"
#include "agent-updater/install/tar_member.h"
#include "drover/v1/updater_config.pb.h"

namespace drover::updater {

class TarballInstaller final : public Installer {
 public:
  struct Options {
    // Downloads of one tarball and one manifest; also caps local copies.
    HttpFetchOptions fetch;
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
  // Verifies <name>-<version>.tar.gz.manifest, then reuses versions/<version>
  // when it was verified with the same manifest, else downloads and checks
  // the tarball and unpacks it; switches `current`, then deletes every
  // version but the new one, the previous one and the last good one.
  // PermissionDenied for a bad manifest, a tarball that does not match it, a
  // member that is not allowed, or a .sig-only (unmanifested) artifact;
  // ResourceExhausted past a limit; FailedPrecondition for an install_dir
  // others can write to.
  absl::Status Install(const std::string& version) override;
  // Switches back to versions/<previous> when it is kept and verified, else
  // installs it; then deletes the version rolled back from.
  absl::Status Rollback(const std::string& previous_version) override;
  // Records `version` as good and deletes versions other than the current
  // and the last good one.
  absl::Status MarkGood(const std::string& version) override;

  const std::string& install_dir() const { return install_dir_; }

 private:
  enum class BaseKind { kDirectory, kHttp };

  TarballInstaller(std::string agent_name, BaseKind kind, std::string base, std::string install_dir,
                   Ed25519Verifier verifier, TarLimits limits, Options options)
      : agent_name_(std::move(agent_name)),
        base_kind_(kind),
        base_(std::move(base)),
        install_dir_(std::move(install_dir)),
        verifier_(std::move(verifier)),
        limits_(limits),
        options_(std::move(options)) {}

  std::string VersionsDir() const;
  std::string VersionDir(const std::string& version) const;
  std::string CurrentLink() const;
  std::string StagingDir() const;

  std::string MarkerFile(const std::string& version) const;

  // FailedPrecondition unless install_dir and its parents are safe (see
  // the config's install_dir), then creates versions/ and a fresh staging/.
  absl::Status EnsureLayout();
  // Copies or downloads `file_name` from the base, passing the bytes to
  // `sink`, at most `max_bytes` of them (ResourceExhausted past that);
  // NotFound when the base does not have it.
  absl::Status Fetch(const std::string& file_name, size_t max_bytes,
                     const std::function<absl::Status(absl::string_view)>& sink);
  // The verified facts of <name>-<version>.tar.gz.manifest and its bytes.
  absl::StatusOr<std::pair<ArtifactFacts, std::string>> FetchManifest(const std::string& version);
  // True when versions/<version> holds a tree unpacked from the artifact
  // `manifest` describes (its marker verifies and, when `manifest` is given,
  // holds the same bytes).
  bool VerifiedVersionKept(const std::string& version, const std::string* manifest) const;
  // Downloads the tarball into an unnamed file in staging/, checks it
  // against `facts`, and unpacks it into versions/<version> from that file.
  absl::Status DownloadAndUnpack(const ArtifactFacts& facts, const std::string& manifest);
  absl::Status Unpack(int tarball_fd, const ArtifactFacts& facts, const std::string& manifest);
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
  const TarLimits limits_;
  const Options options_;
};

}  // namespace drover::updater
