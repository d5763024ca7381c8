#include "agent-updater/install/tarball_installer.h"

#include <atomic>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/atomic_file.h"
#include "common/log.h"
#include "common/semver.h"
#include "common/subprocess.h"

namespace drover::updater {
namespace {

namespace fs = std::filesystem;

constexpr absl::string_view kPartialSuffix = ".partial";
constexpr absl::string_view kCurrentTmpPrefix = ".current.tmp.";

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

  return std::unique_ptr<TarballInstaller>(
      new TarballInstaller(agent_name, kind, std::move(base), std::move(install_dir), std::move(*verifier), effective));
}

std::string TarballInstaller::VersionsDir() const { return install_dir_ + "/versions"; }
std::string TarballInstaller::VersionDir(const std::string& version) const { return VersionsDir() + "/" + version; }
std::string TarballInstaller::CurrentLink() const { return install_dir_ + "/current"; }
std::string TarballInstaller::StagingDir() const { return install_dir_ + "/staging"; }
std::string TarballInstaller::GoodFile() const { return install_dir_ + "/good"; }

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
  absl::Status s = MakeDir(VersionsDir(), kSharedDirMode);
  if (!s.ok()) return s;
  RemoveAll(StagingDir());  // a download an earlier run left behind
  return MakeDir(StagingDir(), kPrivateDirMode);
}

absl::Status TarballInstaller::Fetch(const std::string& file_name, const std::string& dest) {
  const size_t cap = options_.fetch.max_body_bytes;
  Fd out(open(dest.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (out.get() < 0) return Errno("create", dest);

  if (base_kind_ == BaseKind::kHttp) {
    const std::string url = absl::StrCat(base_, "/", file_name);
    absl::StatusOr<int> code =
        HttpGetStreaming(url, options_.fetch, [&](absl::string_view chunk) { return WriteAll(out.get(), chunk, dest); });
    if (!code.ok()) return code.status();
    if (*code == 404 || *code == 410) return absl::NotFoundError(absl::StrCat("GET ", url, ": HTTP ", *code));
    if (*code < 200 || *code >= 300) {
      return absl::UnavailableError(absl::StrCat("GET ", url, ": HTTP ", *code, " (want 200)"));
    }
    return absl::OkStatus();
  }

  // Copied, not read in place: what is verified is exactly what is unpacked.
  const std::string src = absl::StrCat(base_, "/", file_name);
  Fd in(open(src.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) return Errno("open", src);
  char buf[65536];
  size_t total = 0;
  for (;;) {
    const ssize_t n = read(in.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("read", src);
    if (n == 0) return absl::OkStatus();
    total += static_cast<size_t>(n);
    if (total > cap) return absl::ResourceExhaustedError(absl::StrCat(src, " is larger than ", cap, " bytes"));
    absl::Status s = WriteAll(out.get(), absl::string_view(buf, static_cast<size_t>(n)), dest);
    if (!s.ok()) return s;
  }
}

absl::Status TarballInstaller::Unpack(const std::string& tarball, const std::string& version) {
  const std::string final_dir = VersionDir(version);
  // A fresh name per attempt: a `tar` orphaned by a killed updater may still
  // be writing into an older one, which Prune() removes later.
  std::string partial = absl::StrCat(final_dir, kPartialSuffix, ".XXXXXX");
  if (mkdtemp(partial.data()) == nullptr) return Errno("mkdtemp", partial);
  chmod(partial.c_str(), 0755);
  absl::Status s;
  CommandOptions opts;
  opts.timeout = options_.unpack_timeout;
  const std::vector<std::string> argv = {"tar",         "--extract",       "--gzip",   "--file", tarball,
                                         "--directory", partial,           "--no-same-owner"};
  absl::StatusOr<CommandOutput> out = RunCommand(argv, opts);
  if (!out.ok()) return out.status();
  if (out->timed_out || out->exit_code != 0) {
    RemoveAll(partial);
    return absl::InternalError(absl::StrCat("unpacking failed (", CommandLineForLog(argv), " ",
                                            out->timed_out ? "timed out" : absl::StrCat("exit code ", out->exit_code),
                                            "): ", absl::StripAsciiWhitespace(out->output)));
  }
  std::error_code ec;
  if (fs::is_empty(partial, ec)) {
    RemoveAll(partial);
    return absl::FailedPreconditionError(absl::StrCat("tarball for ", version, " is empty"));
  }
  // tar does not fsync: flush the unpacked files before the rename makes them
  // the complete version a crash may leave `current` pointing at.
  {
    Fd dir(open(partial.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() < 0 || syncfs(dir.get()) != 0) return Errno("syncfs", partial);
  }
  if (rename(partial.c_str(), final_dir.c_str()) != 0) return Errno("rename to", final_dir);
  s = SyncDirectory(VersionsDir());
  if (!s.ok()) return s;
  LogInfo(absl::StrCat("tarball: unpacked ", agent_name_, " ", version, " into ", final_dir));
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

  const std::string file_name = absl::StrCat(agent_name_, "-", *version, ".tar.gz");
  const std::string source = absl::StrCat(base_, "/", file_name);
  const std::string tarball = absl::StrCat(StagingDir(), "/", file_name);
  const std::string signature = tarball + ".sig";
  s = Fetch(file_name, tarball);
  if (!s.ok()) {
    if (absl::IsNotFound(s)) {
      return absl::NotFoundError(absl::StrCat(agent_name_, " ", *version, " is not available: ", s.message()));
    }
    return s;
  }
  s = Fetch(file_name + ".sig", signature);
  if (absl::IsNotFound(s)) {
    return absl::PermissionDeniedError(
        absl::StrCat("no signature ", source, ".sig (", s.message(), "): refusing an unsigned tarball"));
  }
  if (!s.ok()) return s;

  // Verified before anything is unpacked or changed.
  absl::StatusOr<std::string> data = ReadFile(tarball);
  if (!data.ok()) return data.status();
  absl::StatusOr<std::string> sig = ReadFile(signature);
  if (!sig.ok()) return sig.status();
  s = verifier_.Verify(*data, *sig, source);
  data->clear();
  data->shrink_to_fit();
  if (!s.ok()) {
    RemoveAll(StagingDir());
    // A malformed signature is as untrustworthy as a wrong one.
    return absl::PermissionDeniedError(s.message());
  }

  if (IsDirectory(VersionDir(*version))) {
    LogInfo(absl::StrCat("tarball: reusing complete ", VersionDir(*version)));
  } else {
    s = Unpack(tarball, *version);
    if (!s.ok()) return s;
  }
  RemoveAll(StagingDir());
  return SwitchTo(*version, rollback);
}

absl::Status TarballInstaller::Rollback(const std::string& previous_version) {
  absl::StatusOr<std::string> version = CheckVersion(previous_version);
  if (!version.ok()) return version.status();
  if (IsDirectory(VersionDir(*version))) return SwitchTo(*version, /*rollback=*/true);
  LogInfo(absl::StrCat("tarball: ", VersionDir(*version), " is not kept; installing ", *version, " again"));
  return InstallVersion(*version, /*rollback=*/true);
}

}  // namespace drover::updater
