#include "agent-updater/install/tarball_installer.h"

#include <atomic>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>
#include <limits>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/atomic_file.h"
#include "common/log.h"
#include "common/semver.h"
#include "agent-updater/install/file_trust.h"
#include "agent-updater/install/tar_extractor.h"

namespace drover::updater {
namespace {

namespace fs = std::filesystem;

constexpr absl::string_view kPartialSuffix = ".partial";
constexpr absl::string_view kCurrentTmpPrefix = ".current.tmp.";
constexpr absl::string_view kVerifiedSuffix = ".verified";
constexpr absl::string_view kManifestSuffix = ".manifest";

absl::Status Errno(absl::string_view what, const std::string& path) {
  const int e = errno;
  std::string msg = absl::StrCat(what, " ", path, ": ", std::strerror(e));
  return e == ENOENT ? absl::NotFoundError(msg) : absl::InternalError(msg);
}

absl::Status WithPrefix(absl::string_view prefix, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(prefix, status.message()));
}

// Agent names become file names: letters, digits and . _ + - only.
bool ValidName(absl::string_view name) {
  if (name.empty() || name.size() > 128 || name.front() == '.' || name.front() == '-') return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '+' && c != '-') {
      return false;
    }
  }
  return true;
}

// The normalised version, or InvalidArgument: the string ends up in file
// names, so nothing but strict semver may pass.
absl::StatusOr<std::string> CheckVersion(const std::string& version) {
  absl::StatusOr<Semver> v = Semver::Parse(version);
  if (!v.ok()) return absl::InvalidArgumentError(absl::StrCat("refusing version: ", v.status().message()));
  return v->ToString();
}

bool IsDirectory(const std::string& path) {
  struct stat st{};
  return lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Modes are set explicitly, not left to the umask: the updater's unit runs
// with UMask=0077, and an agent running as another user must still reach
// versions/<version>/ through install_dir and versions/.
constexpr mode_t kSharedDirMode = 0755;
constexpr mode_t kPrivateDirMode = 0700;

// Creates `path` (an installer-owned directory, given `mode` even if it
// exists) and any missing parents (0755).
absl::Status MakeDir(const std::string& path, mode_t mode) {
  fs::path partial;
  for (const fs::path& part : fs::path(path)) {
    partial /= part;
    if (mkdir(partial.c_str(), kSharedDirMode) == 0) {
      chmod(partial.c_str(), kSharedDirMode);
    } else if (errno != EEXIST) {
      return absl::InternalError(absl::StrCat("cannot create directory ", partial.string(), ": ", std::strerror(errno)));
    }
  }
  if (!IsDirectory(path)) return absl::InternalError(absl::StrCat("cannot create directory ", path, ": not a directory"));
  if (chmod(path.c_str(), mode) != 0) return Errno("chmod", path);
  return absl::OkStatus();
}

void RemoveAll(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) LogWarning(absl::StrCat("tarball: cannot remove ", path, ": ", ec.message()));
}

// FailedPrecondition unless every existing directory from / down to
// `install_dir` is owned by a trusted user and not writable by group or
// others; a parent may be world-writable when sticky (/tmp), since its
// trusted-owned child cannot be renamed or removed by others then.
absl::Status CheckInstallDirSafe(const std::string& install_dir) {
  fs::path partial;
  for (const fs::path& part : fs::path(install_dir)) {
    partial /= part;
    struct stat st{};
    if (stat(partial.c_str(), &st) != 0) {
      if (errno == ENOENT) return absl::OkStatus();  // the rest is created by the installer
      return Errno("stat", partial.string());
    }
    const bool self = partial.string() == install_dir;
    auto refuse = [&](absl::string_view why, absl::string_view fix) {
      return absl::FailedPreconditionError(absl::StrCat(
          "agent.tarball.install_dir ", install_dir, ": ", self ? "it" : absl::StrCat("its parent ", partial.string()),
          " ", why, "; refusing to install software there (", fix, ")"));
    };
    if (!S_ISDIR(st.st_mode)) return refuse("is not a directory", "use a directory");
    if (!TrustedOwner(st.st_uid)) {
      return refuse(absl::StrCat("is owned by uid ", st.st_uid, ", not root"),
                    absl::StrCat("chown root ", partial.string()));
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (self || (st.st_mode & S_ISVTX) == 0)) {
      return refuse(absl::StrFormat("is writable by group or others (mode %04o)", st.st_mode & 07777),
                    absl::StrCat("chmod go-w ", partial.string()));
    }
  }
  return absl::OkStatus();
}

// Writes everything to `fd`.
absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("write", path);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) close(fd_);
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<TarballInstaller>> TarballInstaller::Create(const std::string& agent_name,
                                                                           const drover::v1::TarballInstaller& config) {
  return Create(agent_name, config, Options());
}

absl::StatusOr<std::unique_ptr<TarballInstaller>> TarballInstaller::Create(const std::string& agent_name,
                                                                           const drover::v1::TarballInstaller& config,
                                                                           const Options& options) {
  if (!ValidName(agent_name)) {
    return absl::InvalidArgumentError(absl::StrCat("agent.name \"", agent_name,
                                                   "\" cannot name a tarball: use letters, digits and . _ + - "
                                                   "(tarballs are <name>-<version>.tar.gz)"));
  }
  if (config.base().empty()) {
    return absl::InvalidArgumentError(
        "agent.tarball.base is required: an http(s):// URL prefix or a directory holding <name>-<version>.tar.gz");
  }
  BaseKind kind = BaseKind::kDirectory;
  std::string base = config.base();
  if (absl::StrContains(base, "://")) {
    if (absl::StartsWith(base, "file://")) {
      base = base.substr(std::string("file://").size());
      if (base.empty() || base.front() != '/') {
        return absl::InvalidArgumentError(
            absl::StrCat("agent.tarball.base \"", config.base(), "\": a file:// URL needs an absolute path"));
      }
    } else {
      absl::StatusOr<HttpUrl> url = ParseHttpUrl(base);
      if (!url.ok()) return WithPrefix("agent.tarball.base: ", url.status());
      kind = BaseKind::kHttp;
    }
  }
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  Options effective = options;
  if (!config.ca_file().empty()) {
    if (!absl::StartsWith(base, "https://")) {
      return absl::InvalidArgumentError(absl::StrCat("agent.tarball.ca_file \"", config.ca_file(),
                                                     "\" only applies to an https:// agent.tarball.base, not \"",
                                                     config.base(), "\""));
    }
    absl::StatusOr<std::string> pem = ReadFile(config.ca_file());
    if (!pem.ok()) return WithPrefix("agent.tarball.ca_file: ", pem.status());
    if (!absl::StrContains(*pem, "-----BEGIN CERTIFICATE-----")) {
      return absl::InvalidArgumentError(absl::StrCat("agent.tarball.ca_file \"", config.ca_file(),
                                                     "\" holds no PEM certificate (-----BEGIN CERTIFICATE-----)"));
    }
    effective.fetch.ca_file = config.ca_file();
  }
  std::error_code ec;
  if (kind == BaseKind::kDirectory) base = fs::absolute(base, ec).lexically_normal().string();
  if (ec) return absl::InvalidArgumentError(absl::StrCat("agent.tarball.base \"", config.base(), "\": ", ec.message()));

  if (config.public_key_file().empty()) {
    return absl::InvalidArgumentError(
        "agent.tarball.public_key_file is required: the PEM Ed25519 public key tarballs are signed with");
  }
  absl::StatusOr<Ed25519Verifier> verifier = Ed25519Verifier::FromPemFile(config.public_key_file());
  if (!verifier.ok()) return WithPrefix("agent.tarball.public_key_file: ", verifier.status());

  if (config.install_dir().empty()) {
    return absl::InvalidArgumentError(
        "agent.tarball.install_dir is required: the directory holding versions/ and the current symlink");
  }
  std::string install_dir = fs::absolute(config.install_dir(), ec).lexically_normal().string();
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("agent.tarball.install_dir \"", config.install_dir(), "\": ", ec.message()));
  }
  while (install_dir.size() > 1 && install_dir.back() == '/') install_dir.pop_back();
  if (install_dir == "/") return absl::InvalidArgumentError("agent.tarball.install_dir must not be /");

  TarLimits limits;
  if (config.max_unpacked_bytes() != 0) {
    if (config.max_unpacked_bytes() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return absl::InvalidArgumentError(
          absl::StrCat("agent.tarball.max_unpacked_bytes ", config.max_unpacked_bytes(), " is too large"));
    }
    limits.max_bytes = static_cast<int64_t>(config.max_unpacked_bytes());
  }
  if (config.max_files() != 0) limits.max_members = config.max_files();

  return std::unique_ptr<TarballInstaller>(new TarballInstaller(agent_name, kind, std::move(base),
                                                                std::move(install_dir), std::move(*verifier), limits,
                                                                effective));
}

std::string TarballInstaller::VersionsDir() const { return install_dir_ + "/versions"; }
std::string TarballInstaller::VersionDir(const std::string& version) const { return VersionsDir() + "/" + version; }
std::string TarballInstaller::CurrentLink() const { return install_dir_ + "/current"; }
std::string TarballInstaller::StagingDir() const { return install_dir_ + "/staging"; }
std::string TarballInstaller::GoodFile() const { return install_dir_ + "/good"; }
std::string TarballInstaller::MarkerFile(const std::string& version) const {
  return absl::StrCat(VersionDir(version), kVerifiedSuffix);
}

std::vector<std::string> TarballInstaller::GoodVersions() const {
  absl::StatusOr<std::string> text = ReadFile(GoodFile());
  if (!text.ok()) return {};
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipWhitespace())) {
    absl::StatusOr<std::string> v = CheckVersion(std::string(absl::StripAsciiWhitespace(line)));
    if (v.ok()) out.push_back(*v);
  }
  return out;
}

void TarballInstaller::AddLastGood(std::set<std::string>& keep) const {
  for (const std::string& v : GoodVersions()) {
    if (keep.contains(v)) continue;
    keep.insert(v);
    return;
  }
}

absl::Status TarballInstaller::MarkGood(const std::string& requested) {
  absl::StatusOr<std::string> version = CheckVersion(requested);
  if (!version.ok()) return version.status();
  // The last three: enough to know the last good one before the current and
  // the previous version.
  std::vector<std::string> good = {*version};
  for (const std::string& v : GoodVersions()) {
    if (v != *version && good.size() < 3) good.push_back(v);
  }
  absl::Status s = WriteFileAtomically(GoodFile(), absl::StrCat(absl::StrJoin(good, "\n"), "\n"), 0644);
  if (!s.ok()) return s;
  absl::StatusOr<std::optional<std::string>> installed = InstalledVersion();
  if (!installed.ok() || !installed->has_value()) return absl::OkStatus();
  std::set<std::string> keep = {**installed};
  AddLastGood(keep);
  // Without a good one before it (good versions were not recorded before),
  // the previous version stays: it is the best guess there is.
  if (keep.size() > 1) Prune(keep);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> TarballInstaller::InstalledVersion() {
  const std::string link = CurrentLink();
  struct stat st{};
  if (lstat(link.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::nullopt;
    return Errno("lstat", link);
  }
  if (!S_ISLNK(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(link, " is not a symlink; the tarball installer manages it: move it away and re-run"));
  }
  std::error_code ec;
  const fs::path target = fs::read_symlink(link, ec);
  if (ec) return absl::InternalError(absl::StrCat("readlink ", link, ": ", ec.message()));
  const std::string version = target.filename().string();
  if (target.parent_path().filename() != "versions" || !Semver::Parse(version).ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(link, " points at \"", target.string(), "\", not at versions/<version>"));
  }
  if (!IsDirectory(VersionDir(version))) {
    LogWarning(absl::StrCat("tarball: ", link, " points at missing ", VersionDir(version),
                            "; treating the agent as not installed"));
    return std::nullopt;
  }
  return version;
}

absl::Status TarballInstaller::EnsureLayout() {
  absl::Status s = CheckInstallDirSafe(install_dir_);
  if (!s.ok()) return s;
  s = MakeDir(VersionsDir(), kSharedDirMode);
  if (!s.ok()) return s;
  struct stat st{};
  if (lstat(VersionsDir().c_str(), &st) != 0) return Errno("stat", VersionsDir());
  if (!TrustedOwner(st.st_uid)) {
    return absl::FailedPreconditionError(absl::StrCat(VersionsDir(), " is owned by uid ", st.st_uid,
                                                      ", not root; refusing to install software there"));
  }
  RemoveAll(StagingDir());  // a download an earlier run left behind
  return MakeDir(StagingDir(), kPrivateDirMode);
}

absl::Status TarballInstaller::Fetch(const std::string& file_name, size_t max_bytes,
                                     const std::function<absl::Status(absl::string_view)>& sink) {
  const std::string src = absl::StrCat(base_, "/", file_name);
  size_t total = 0;
  auto capped = [&](absl::string_view chunk) -> absl::Status {
    total += chunk.size();
    if (total > max_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(src, " is larger than ", max_bytes, " bytes"));
    }
    return sink(chunk);
  };

  if (base_kind_ == BaseKind::kHttp) {
    HttpFetchOptions fetch = options_.fetch;
    // One byte more than allowed reaches `capped`, which names the limit.
    fetch.max_body_bytes = max_bytes + 1;
    absl::StatusOr<int> code = HttpGetStreaming(src, fetch, capped);
    if (!code.ok()) return code.status();
    if (*code == 404 || *code == 410) return absl::NotFoundError(absl::StrCat("GET ", src, ": HTTP ", *code));
    if (*code < 200 || *code >= 300) {
      return absl::UnavailableError(absl::StrCat("GET ", src, ": HTTP ", *code, " (want 200)"));
    }
    return absl::OkStatus();
  }

  Fd in(open(src.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) return Errno("open", src);
  char buf[65536];
  for (;;) {
    const ssize_t n = read(in.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("read", src);
    if (n == 0) return absl::OkStatus();
    absl::Status s = capped(absl::string_view(buf, static_cast<size_t>(n)));
    if (!s.ok()) return s;
  }
}

absl::StatusOr<std::pair<ArtifactFacts, std::string>> TarballInstaller::FetchManifest(const std::string& version) {
  const std::string tarball_name = absl::StrCat(agent_name_, "-", version, ".tar.gz");
  const std::string manifest_name = absl::StrCat(tarball_name, kManifestSuffix);
  const std::string origin = absl::StrCat(base_, "/", manifest_name);
  std::string manifest;
  absl::Status s = Fetch(manifest_name, kMaxArtifactManifestBytes, [&](absl::string_view chunk) {
    manifest.append(chunk.data(), chunk.size());
    return absl::OkStatus();
  });
  if (absl::IsResourceExhausted(s)) {
    return absl::PermissionDeniedError(absl::StrCat(s.message(), ": not an artifact manifest; refusing it"));
  }
  if (absl::IsNotFound(s)) {
    // Artifacts published before manifests existed had a detached .sig:
    // it signs only the bytes, not which name and version they are.
    absl::Status sig = Fetch(tarball_name + ".sig", Ed25519Verifier::kSignatureSize, [](absl::string_view) {
      return absl::OkStatus();
    });
    if (sig.ok() || absl::IsResourceExhausted(sig)) {
      return absl::PermissionDeniedError(absl::StrCat(
          "no signed manifest ", origin, " (", s.message(), "): ", agent_name_, " ", version,
          " is published with only a detached .sig, which does not bind the name and version; refusing it. "
          "Publish the manifest: drover-artifact sign --key_file=KEY --name=",
          agent_name_, " --version=", version, " ", tarball_name));
    }
    return absl::NotFoundError(absl::StrCat(agent_name_, " ", version, " is not available: ", s.message()));
  }
  if (!s.ok()) return s;
  absl::StatusOr<ArtifactFacts> facts = VerifyArtifactManifest(manifest, agent_name_, version, verifier_, origin);
  if (!facts.ok()) return facts.status();
  if (facts->size_bytes > options_.fetch.max_body_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat("artifact manifest ", origin, " gives ", tarball_name, " ",
                                                     facts->size_bytes, " bytes, more than the limit of ",
                                                     options_.fetch.max_body_bytes));
  }
  return std::make_pair(*std::move(facts), std::move(manifest));
}

bool TarballInstaller::VerifiedVersionKept(const std::string& version, const std::string* manifest) const {
  if (!IsDirectory(VersionDir(version))) return false;
  absl::StatusOr<std::string> marker = ReadFile(MarkerFile(version));
  if (!marker.ok()) return false;
  if (manifest != nullptr) return *marker == *manifest;
  return VerifyArtifactManifest(*marker, agent_name_, version, verifier_, MarkerFile(version)).ok();
}

absl::Status TarballInstaller::DownloadAndUnpack(const ArtifactFacts& facts, const std::string& manifest) {
  const std::string tarball_name = absl::StrCat(agent_name_, "-", facts.version, ".tar.gz");
  const std::string source = absl::StrCat(base_, "/", tarball_name);
  // Unnamed: what is checked below is what is unpacked, and nothing can
  // reach the file by path in between.
  Fd file(open(StagingDir().c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (file.get() < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    std::string path = absl::StrCat(StagingDir(), "/", tarball_name, ".XXXXXX");
    file = Fd(mkostemp(path.data(), O_CLOEXEC));
    if (file.get() >= 0) unlink(path.c_str());
  }
  if (file.get() < 0) return Errno("create a file in", StagingDir());

  Sha256 hash;
  uint64_t size = 0;
  absl::Status s = Fetch(tarball_name, facts.size_bytes, [&](absl::string_view chunk) {
    hash.Update(chunk);
    size += chunk.size();
    return WriteAll(file.get(), chunk, StagingDir());
  });
  if (absl::IsResourceExhausted(s)) {
    return absl::PermissionDeniedError(absl::StrCat(source, " is larger than its signed manifest says (",
                                                    facts.size_bytes, " bytes); refusing it"));
  }
  if (absl::IsNotFound(s)) {
    return absl::NotFoundError(
        absl::StrCat(agent_name_, " ", facts.version, " has a manifest but no tarball: ", s.message()));
  }
  if (!s.ok()) return s;
  if (size != facts.size_bytes) {
    return absl::PermissionDeniedError(absl::StrCat(source, " is ", size, " bytes but its signed manifest says ",
                                                    facts.size_bytes, " (truncated or replaced); refusing it"));
  }
  const std::string digest = hash.Finish();
  if (digest != facts.sha256) {
    return absl::PermissionDeniedError(absl::StrCat(source, " has SHA-256 ", HexEncode(digest),
                                                    " but its signed manifest says ", HexEncode(facts.sha256),
                                                    " (altered or replaced); refusing it"));
  }
  if (lseek(file.get(), 0, SEEK_SET) != 0) return Errno("seek", StagingDir());
  return Unpack(file.get(), facts, manifest);
}

absl::Status TarballInstaller::Unpack(int tarball_fd, const ArtifactFacts& facts, const std::string& manifest) {
  const std::string& version = facts.version;
  const std::string final_dir = VersionDir(version);
  // A fresh name per attempt, never an existing directory: an interrupted
  // attempt's leftovers are removed by Prune(), not unpacked over.
  std::string partial = absl::StrCat(final_dir, kPartialSuffix, ".XXXXXX");
  if (mkdtemp(partial.data()) == nullptr) return Errno("mkdtemp", partial);
  if (chmod(partial.c_str(), kSharedDirMode) != 0) {
    absl::Status s = Errno("chmod", partial);
    RemoveAll(partial);
    return s;
  }
  absl::Status s;
  {
    Fd dir(open(partial.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (dir.get() < 0) {
      s = Errno("open", partial);
    } else {
      s = ExtractTarGz(tarball_fd, dir.get(), partial, limits_);
      // Flush the unpacked files before the rename makes them the complete
      // version a crash may leave `current` pointing at.
      if (s.ok() && syncfs(dir.get()) != 0) s = Errno("syncfs", partial);
    }
  }
  if (!s.ok()) {
    RemoveAll(partial);
    return absl::Status(s.code(), absl::StrCat(agent_name_, " ", version, ": ", s.message(),
                                               "; nothing was installed"));
  }
  // An unverified directory in the way (from an interrupted install, an
  // older updater, or someone else) is swapped out atomically, so `current`
  // never dangles even when it points there, and then removed.
  if (rename(partial.c_str(), final_dir.c_str()) != 0) {
    if (errno != EEXIST && errno != ENOTEMPTY) {
      s = Errno("rename to", final_dir);
      RemoveAll(partial);
      return s;
    }
    LogWarning(absl::StrCat("tarball: replacing unverified ", final_dir, " with the verified tarball's content"));
    unlink(MarkerFile(version).c_str());
    if (renameat2(AT_FDCWD, partial.c_str(), AT_FDCWD, final_dir.c_str(), RENAME_EXCHANGE) != 0) {
      s = Errno("exchange with", final_dir);
      RemoveAll(partial);
      return s;
    }
    RemoveAll(partial);  // now the old content
  }
  s = SyncDirectory(VersionsDir());
  if (!s.ok()) return s;
  // Only now: a directory without its marker is never reused.
  s = WriteFileAtomically(MarkerFile(version), manifest, 0644);
  if (!s.ok()) return s;
  LogInfo(absl::StrCat("tarball: unpacked ", agent_name_, " ", version, " (sha256 ", HexEncode(facts.sha256), ") into ",
                       final_dir));
  return absl::OkStatus();
}

absl::Status TarballInstaller::SwitchTo(const std::string& version, bool rollback) {
  std::optional<std::string> previous;
  absl::StatusOr<std::optional<std::string>> installed = InstalledVersion();
  if (installed.ok()) {
    previous = *installed;
  } else {
    // `current` is ours: an odd symlink is replaced rather than wedging every
    // update (a real directory there makes the rename below fail instead).
    LogWarning(absl::StrCat("tarball: replacing current: ", installed.status().message()));
  }

  const std::string link = CurrentLink();
  const std::string tmp = absl::StrCat(install_dir_, "/", kCurrentTmpPrefix, getpid());
  unlink(tmp.c_str());
  // Relative, so the install directory can be moved or bind-mounted.
  if (symlink(absl::StrCat("versions/", version).c_str(), tmp.c_str()) != 0) return Errno("symlink", tmp);
  if (rename(tmp.c_str(), link.c_str()) != 0) {
    absl::Status s = Errno("rename to", link);
    unlink(tmp.c_str());
    return s;
  }
  absl::Status s = SyncDirectory(install_dir_);
  if (!s.ok()) return s;
  LogInfo(absl::StrCat("tarball: ", link, " -> versions/", version,
                       previous.has_value() ? absl::StrCat(" (was ", *previous, ")") : std::string()));

  if (previous == version) {
    // Nothing moved: the kept previous version stays the previous one.
    Prune(std::nullopt);
  } else {
    // Forward: the version replaced is what a failed update rolls back to.
    // Back: the version left is broken, not worth its disk space.
    std::set<std::string> keep = {version};
    if (previous.has_value() && !rollback) keep.insert(*previous);
    AddLastGood(keep);
    Prune(keep);
  }
  return absl::OkStatus();
}

void TarballInstaller::Prune(const std::optional<std::set<std::string>>& keep) {
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(VersionsDir(), ec)) {
    const std::string name = entry.path().filename().string();
    if (absl::EndsWith(name, kVerifiedSuffix)) continue;  // below
    const bool leftover = absl::StrContains(name, kPartialSuffix) || !IsDirectory(entry.path().string());
    if (keep.has_value() ? keep->contains(name) : !leftover) continue;
    std::string path = entry.path().string();
    LogInfo(absl::StrCat("tarball: removing ", path));
    if (!leftover) {
      // Out of the versions namespace first, atomically: killed half-way
      // through the removal, a half-deleted tree must never be taken for a
      // complete version (it is a leftover the next Prune finishes).
      static std::atomic<int> removals{0};
      const std::string doomed = absl::StrCat(path, kPartialSuffix, ".removing.", getpid(), ".", removals++);
      if (rename(path.c_str(), doomed.c_str()) != 0) {
        LogWarning(absl::StrCat("tarball: cannot move ", path, " aside to remove it; keeping it"));
        continue;
      }
      path = doomed;
    }
    RemoveAll(path);
  }
  if (ec) LogWarning(absl::StrCat("tarball: cannot list ", VersionsDir(), ": ", ec.message()));
  // Markers go with their directories: a kept version keeps its marker, any
  // other marker is removed.
  for (const fs::directory_entry& entry : fs::directory_iterator(VersionsDir(), ec)) {
    const std::string name = entry.path().filename().string();
    if (!absl::EndsWith(name, kVerifiedSuffix)) continue;
    const std::string version(absl::StripSuffix(name, kVerifiedSuffix));
    if (IsDirectory(VersionDir(version)) && (!keep.has_value() || keep->contains(version))) continue;
    RemoveAll(entry.path().string());
  }
  for (const fs::directory_entry& entry : fs::directory_iterator(install_dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (absl::StartsWith(name, kCurrentTmpPrefix)) RemoveAll(entry.path().string());
  }
}

absl::Status TarballInstaller::Install(const std::string& requested) { return InstallVersion(requested, false); }

absl::Status TarballInstaller::InstallVersion(const std::string& requested, bool rollback) {
  absl::StatusOr<std::string> version = CheckVersion(requested);
  if (!version.ok()) return version.status();
  absl::Status s = EnsureLayout();
  if (!s.ok()) return s;

  // Verified before anything is downloaded, unpacked or changed.
  absl::StatusOr<std::pair<ArtifactFacts, std::string>> manifest = FetchManifest(*version);
  if (!manifest.ok()) {
    RemoveAll(StagingDir());
    return manifest.status();
  }
  if (VerifiedVersionKept(*version, &manifest->second)) {
    LogInfo(absl::StrCat("tarball: reusing ", VersionDir(*version), ", unpacked from the same verified artifact"));
  } else {
    s = DownloadAndUnpack(manifest->first, manifest->second);
    RemoveAll(StagingDir());
    if (!s.ok()) return s;
  }
  RemoveAll(StagingDir());
  return SwitchTo(*version, rollback);
}

absl::Status TarballInstaller::Rollback(const std::string& previous_version) {
  absl::StatusOr<std::string> version = CheckVersion(previous_version);
  if (!version.ok()) return version.status();
  absl::Status s = CheckInstallDirSafe(install_dir_);
  if (!s.ok()) return s;
  // Kept and verified: no download, so a roll-back works while the source is down.
  if (VerifiedVersionKept(*version, nullptr)) return SwitchTo(*version, /*rollback=*/true);
  LogInfo(absl::StrCat("tarball: ", VersionDir(*version), " is not kept (or not verified); installing ", *version,
                       " again"));
  return InstallVersion(*version, /*rollback=*/true);
}

}  // namespace drover::updater
