#include "agent-updater/install/dnf_installer.h"

#include <filesystem>
#include <initializer_list>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent-updater/install/file_trust.h"
#include "agent-updater/install/package_version.h"
#include "common/atomic_file.h"
#include "common/log.h"
#include "common/semver.h"

namespace drover::updater {
namespace {

namespace fs = std::filesystem;

bool ContainsAny(absl::string_view text, std::initializer_list<absl::string_view> needles) {
  for (absl::string_view n : needles) {
    if (absl::StrContains(text, n)) return true;
  }
  return false;
}

// rpm package names: letters, digits and - . _ + ; it also ends up in argv
// and in dnf.conf, so nothing else may pass.
bool ValidRpmName(absl::string_view name) {
  if (name.empty() || name.size() > 128 || !absl::ascii_isalnum(name.front())) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '.' && c != '_' && c != '+') return false;
  }
  return true;
}

bool ValidRepoId(absl::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(c) && c != '-' && c != '.' && c != '_' && c != ':') return false;
  }
  return true;
}

constexpr std::initializer_list<absl::string_view> kSignatureFailures = {
    "is not signed",
    "GPG check FAILED",
    "Public key for",
    "GPG signature verification error",
    "Bad GPG signature",
    "NOKEY",
    "Didn't install any keys",
    "The GPG keys listed for the",
    "signature verification failed",
    // repo_gpgcheck=1 and no repomd.xml.asc: unsigned metadata.
    "GPG signature is not available",
};

constexpr absl::string_view kLockComment =
    "# drover-updater: keeps these packages where it put them; it lifts this exclude only for its own dnf runs "
    "(--disableexcludes=main).";

// Upper-case hex without spaces, or "" when it is not a v4 (40) or v5 (64)
// fingerprint.
std::string NormaliseFingerprint(absl::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == ' ') continue;
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return "";
    out.push_back(absl::ascii_toupper(static_cast<unsigned char>(c)));
  }
  return out.size() == 40 || out.size() == 64 ? out : "";
}

}  // namespace

std::vector<std::string> PrimaryFingerprints(absl::string_view gpg_colons) {
  std::vector<std::string> out;
  bool after_pub = false;
  for (absl::string_view line : absl::StrSplit(gpg_colons, '\n')) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ':');
    if (f.empty()) continue;
    if (f[0] == "pub") {
      after_pub = true;
    } else if (f[0] == "sub" || f[0] == "uid") {
      after_pub = false;
    } else if (f[0] == "fpr" && after_pub && f.size() > 9) {
      out.push_back(absl::AsciiStrToUpper(f[9]));
      after_pub = false;
    }
  }
  return out;
}

std::string AddDnfExclude(absl::string_view dnf_conf, absl::string_view package) {
  std::vector<std::string> lines = absl::StrSplit(dnf_conf, '\n');
  const bool trailing_newline = !dnf_conf.empty() && dnf_conf.back() == '\n';
  if (trailing_newline) lines.pop_back();
  const std::string option = absl::StrCat("excludepkgs=", package);

  size_t main = lines.size();
  for (size_t i = 0; i < lines.size(); ++i) {
    if (absl::StripAsciiWhitespace(lines[i]) == "[main]") {
      main = i;
      break;
    }
  }
  if (main == lines.size()) {
    std::string out = absl::StrCat("[main]\n", kLockComment, "\n", option, "\n");
    if (!dnf_conf.empty()) absl::StrAppend(&out, "\n", dnf_conf, trailing_newline ? "" : "\n");
    return out;
  }
  for (size_t i = main + 1; i < lines.size(); ++i) {
    absl::string_view line = absl::StripAsciiWhitespace(lines[i]);
    if (absl::StartsWith(line, "[")) break;  // next section
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) continue;
    const absl::string_view key = absl::StripAsciiWhitespace(line.substr(0, eq));
    if (key != "excludepkgs" && key != "exclude") continue;
    const absl::string_view value = absl::StripAsciiWhitespace(line.substr(eq + 1));
    for (absl::string_view item : absl::StrSplit(value, absl::ByAnyChar(", \t"), absl::SkipEmpty())) {
      if (item == package) return std::string(dnf_conf);
    }
    lines[i] = absl::StrCat(absl::StripTrailingAsciiWhitespace(lines[i]), value.empty() ? "" : ",", package);
    return absl::StrCat(absl::StrJoin(lines, "\n"), "\n");
  }
  lines.insert(lines.begin() + main + 1, {std::string(kLockComment), option});
  return absl::StrCat(absl::StrJoin(lines, "\n"), "\n");
}

absl::StatusOr<std::unique_ptr<DnfInstaller>> DnfInstaller::Create(const std::string& package,
                                                                    const drover::v1::DnfInstaller& config) {
  return Create(package, config, Options{});
}

absl::StatusOr<std::unique_ptr<DnfInstaller>> DnfInstaller::Create(const std::string& package,
                                                                    const drover::v1::DnfInstaller& config,
                                                                    const Options& options) {
  if (!ValidRpmName(package)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "agent.name: \"", package, "\" is not an rpm package name (letters, digits, '-', '.', '_', '+')"));
  }
  if (!ValidRepoId(config.repo_id())) {
    return absl::InvalidArgumentError(
        absl::StrCat("agent.dnf.repo_id: \"", config.repo_id(),
                     "\" is not a repository id (required; letters, digits, '-', '.', '_', ':')"));
  }
  if (!config.install_root().empty()) {
    if (config.install_root().front() != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("agent.dnf.install_root: must be an absolute path, got \"", config.install_root(), "\""));
    }
    // dnf would otherwise guess it from the root's (absent) release package.
    if (config.releasever().empty()) {
      return absl::InvalidArgumentError("agent.dnf.releasever: required when agent.dnf.install_root is set");
    }
  }
  if (!config.repos_dir().empty()) {
    std::error_code ec;
    if (config.repos_dir().front() != '/' || !fs::is_directory(config.repos_dir(), ec)) {
      return absl::InvalidArgumentError(
          absl::StrCat("agent.dnf.repos_dir: \"", config.repos_dir(), "\" is not an absolute path to a directory"));
    }
  }
  for (char c : config.releasever()) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '_' && c != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat("agent.dnf.releasever: \"", config.releasever(), "\" holds characters dnf does not accept"));
    }
  }
  if (config.gpgkey_file().empty() || config.gpgkey_file().front() != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "agent.dnf.gpgkey_file: \"", config.gpgkey_file(),
        "\" is not an absolute path (required: the local file holding the repository's public key; keys are "
        "never imported from a URL)"));
  }
  std::string fingerprint = NormaliseFingerprint(config.gpgkey_fingerprint());
  if (fingerprint.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "agent.dnf.gpgkey_fingerprint: \"", config.gpgkey_fingerprint(),
        "\" is not a key fingerprint (required: 40 hex digits, as `gpg --show-keys KEYFILE` prints)"));
  }
  return std::unique_ptr<DnfInstaller>(new DnfInstaller(package, config, std::move(fingerprint), options));
}

std::string DnfInstaller::MainConfigPath() const {
  return absl::StrCat(config_.install_root(), "/etc/dnf/dnf.conf");
}

std::string DnfInstaller::RepoForMessage() const {
  return config_.repos_dir().empty() ? absl::StrCat("repository ", config_.repo_id())
                                     : absl::StrCat("repository ", config_.repo_id(), " (in ", config_.repos_dir(), ")");
}

std::vector<std::string> DnfInstaller::DnfCommand() const {
  const std::string& id = config_.repo_id();
  std::vector<std::string> argv = {"dnf", "-y"};
  if (!config_.install_root().empty()) argv.push_back(absl::StrCat("--installroot=", config_.install_root()));
  if (!config_.releasever().empty()) argv.push_back(absl::StrCat("--releasever=", config_.releasever()));
  if (!config_.repos_dir().empty()) argv.push_back(absl::StrCat("--setopt=reposdir=", config_.repos_dir()));
  argv.insert(argv.end(), {
                              "--disablerepo=*",
                              absl::StrCat("--enablerepo=", id),
                              absl::StrCat("--setopt=", id, ".gpgcheck=1"),
                              absl::StrCat("--setopt=", id, ".repo_gpgcheck=1"),
                              // Replaces the .repo file's gpgkey list: only the pinned file.
                              absl::StrCat("--setopt=", id, ".gpgkey=file://", config_.gpgkey_file()),
                              // Unreachable must fail, not look like "no such version".
                              absl::StrCat("--setopt=", id, ".skip_if_unavailable=False"),
                              "--disableexcludes=main",
                          });
  return argv;
}

absl::StatusOr<CommandOutput> DnfInstaller::Run(const std::vector<std::string>& argv, absl::Duration timeout) const {
  CommandOptions opts;
  opts.timeout = timeout;
  opts.env = {{"LC_ALL", "C"}, {"LANGUAGE", ""}};
  return RunPackageTool(argv, opts);
}

absl::Status DnfInstaller::Failure(const std::string& what, const CommandOutput& out) const {
  const std::string said = OutputForMessage(out.output);
  if (ContainsAny(out.output, kSignatureFailures)) {
    return absl::PermissionDeniedError(absl::StrCat(
        what, ": dnf refused ", RepoForMessage(),
        ": a package or the metadata is unsigned or not signed by the repository's gpgkey; nothing was installed. "
        "Sign them with the pinned key. dnf: ",
        said));
  }
  if (ContainsAny(out.output, {"Unknown repo"})) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": no ", RepoForMessage(), " is configured (agent.dnf.repo_id / agent.dnf.repos_dir); dnf: ",
                     said));
  }
  if (ContainsAny(out.output, {"Failed to download metadata", "Cannot download", "Curl error",
                               "Cannot find a valid baseurl", "Cannot download repomd.xml"})) {
    return absl::UnavailableError(absl::StrCat(what, ": ", RepoForMessage(), " could not be read; dnf: ", said));
  }
  if (ContainsAny(out.output, {"Unable to find a match", "No match for argument", "All matches were filtered out"})) {
    return absl::NotFoundError(absl::StrCat(what, ": not in ", RepoForMessage(), "; dnf: ", said));
  }
  return absl::InternalError(absl::StrCat(what, " failed (exit ", out.exit_code, "): ", said));
}

absl::Status DnfInstaller::CheckKeyFile() const {
  const std::string& file = config_.gpgkey_file();
  if (absl::Status s = CheckTrustedFile(file, "key file (agent.dnf.gpgkey_file)"); !s.ok()) {
    return absl::FailedPreconditionError(s.message());
  }
  // gpg reads the file without importing it anywhere; a throwaway home keeps
  // it from touching root's keyrings.
  std::string home = "/tmp/drover-dnf-gpg-XXXXXX";
  if (mkdtemp(home.data()) == nullptr) return absl::InternalError("mkdtemp for gpg failed");
  CommandOptions opts;
  opts.timeout = options_.query_timeout;
  opts.env = {{"LC_ALL", "C"}, {"GNUPGHOME", home}};
  const std::vector<std::string> argv = {"gpg", "--batch", "--no-tty", "--with-colons", "--show-keys", file};
  absl::StatusOr<CommandOutput> out = RunCommand(argv, opts);
  (void)RunCommand({"gpgconf", "--homedir", home, "--kill", "all"}, {.timeout = absl::Seconds(10)});
  std::error_code ec;
  fs::remove_all(home, ec);
  if (!out.ok()) return out.status();
  const std::vector<std::string> found = PrimaryFingerprints(out->output);
  if (out->exit_code != 0 || found.empty()) {
    return absl::PermissionDeniedError(absl::StrCat("key file ", file,
                                                    " (agent.dnf.gpgkey_file) holds no OpenPGP public key; gpg: ",
                                                    OutputForMessage(out->output)));
  }
  if (found.size() != 1 || found[0] != fingerprint_) {
    return absl::PermissionDeniedError(absl::StrCat(
        "key file ", file, " (agent.dnf.gpgkey_file) holds key ", absl::StrJoin(found, ", "),
        ", not only the pinned ", fingerprint_, " (agent.dnf.gpgkey_fingerprint); refusing to install with it"));
  }
  return absl::OkStatus();
}

absl::Status DnfInstaller::LockVersion() const {
  const std::string path = MainConfigPath();
  std::string current;
  absl::StatusOr<std::string> existing = ReadFile(path);
  if (existing.ok()) {
    current = *std::move(existing);
  } else if (!absl::IsNotFound(existing.status())) {
    return absl::InternalError(absl::StrCat("cannot read dnf configuration ", path, ": ", existing.status().message()));
  } else if (!config_.install_root().empty()) {
    // dnf falls back to the host's file when the root has none; start from it.
    absl::StatusOr<std::string> host = ReadFile(options_.host_config);
    if (host.ok()) current = *std::move(host);
  }
  const std::string locked = AddDnfExclude(current, package_);
  if (existing.ok() && locked == current) return absl::OkStatus();
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", fs::path(path).parent_path().string(), ": ", ec.message()));
  if (absl::Status s = WriteFileAtomically(path, locked, 0644); !s.ok()) {
    return absl::InternalError(absl::StrCat("cannot lock ", package_, " in ", path, ": ", s.message()));
  }
  LogInfo(absl::StrCat("dnf: ", package_, " excluded in ", path, " so that only drover-updater moves it"));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> DnfInstaller::InstalledVersion() {
  std::vector<std::string> argv = {"rpm"};
  if (!config_.install_root().empty()) argv.insert(argv.end(), {"--root", config_.install_root()});
  argv.insert(argv.end(), {"-q", "--qf", "%{VERSION}\n", package_});
  absl::StatusOr<CommandOutput> out = Run(argv, options_.query_timeout);
  if (!out.ok()) return out.status();
  if (out->exit_code != 0) {
    if (absl::StrContains(out->output, "is not installed")) return std::nullopt;
    return absl::InternalError(absl::StrCat(CommandLineForLog(argv), " failed (exit ", out->exit_code,
                                            "): ", OutputForMessage(out->output)));
  }
  std::set<std::string> versions;
  for (absl::string_view line : absl::StrSplit(out->output, '\n', absl::SkipWhitespace())) {
    versions.insert(std::string(absl::StripAsciiWhitespace(line)));
  }
  if (versions.size() != 1) {
    return absl::FailedPreconditionError(absl::StrCat("rpm reports ", versions.size(), " installed versions of ",
                                                      package_, " (", absl::StrJoin(versions, ", "),
                                                      "); expected exactly one"));
  }
  absl::StatusOr<Semver> version = SemverFromRpmVersion(*versions.begin());
  if (!version.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("installed package ", package_, ": ", version.status().message()));
  }
  return version->ToString();
}

absl::Status DnfInstaller::Install(const std::string& version) {
  absl::StatusOr<Semver> wanted = Semver::Parse(version);
  if (!wanted.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("dnf: refusing version: ", wanted.status().message()));
  }
  if (absl::Status s = CheckKeyFile(); !s.ok()) return s;
  if (absl::Status s = LockVersion(); !s.ok()) return s;
  const std::string spec = absl::StrCat(package_, "-", PackageVersionFromSemver(*wanted));
  std::vector<std::string> argv = DnfCommand();
  // `install` of a lower version is a downgrade in dnf 4.
  argv.insert(argv.end(), {"--refresh", "install", spec});
  LogInfo(absl::StrCat("dnf: installing ", spec, " from ", RepoForMessage()));
  absl::StatusOr<CommandOutput> out = Run(argv, options_.install_timeout);
  if (!out.ok()) return out.status();
  if (out->exit_code != 0) return Failure(absl::StrCat("dnf install ", spec), *out);

  absl::StatusOr<std::optional<std::string>> installed = InstalledVersion();
  if (!installed.ok()) return installed.status();
  if (*installed != wanted->ToString()) {
    return absl::InternalError(absl::StrCat("dnf install ", spec, " succeeded but rpm reports ",
                                            installed->value_or("nothing installed")));
  }
  return absl::OkStatus();
}

}  // namespace drover::updater
