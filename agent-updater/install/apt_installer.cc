#include "agent-updater/install/apt_installer.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <initializer_list>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent-updater/install/file_trust.h"
#include "agent-updater/install/package_version.h"
#include "common/atomic_file.h"
#include "common/log.h"

namespace drover::updater {
namespace {

bool ContainsAny(absl::string_view text, std::initializer_list<absl::string_view> needles) {
  for (absl::string_view n : needles) {
    if (absl::StrContains(text, n)) return true;
  }
  return false;
}

// Lowercase letters, digits, + - . ; at least two characters, starting
// alphanumeric (Debian Policy 5.6.1). The name also ends up in argv.
bool ValidDebianPackageName(absl::string_view name) {
  if (name.size() < 2 || name.size() > 128) return false;
  if (!absl::ascii_isdigit(name[0]) && !absl::ascii_islower(name[0])) return false;
  for (char c : name) {
    if (!absl::ascii_isdigit(c) && !absl::ascii_islower(c) && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

// What an apt run printed when it refused something on authenticity grounds.
constexpr std::initializer_list<absl::string_view> kSignatureFailures = {
    "is not signed",
    "NO_PUBKEY",
    "GPG error",
    "signatures were invalid",
    "BADSIG",
    "EXPKEYSIG",
    "REVKEYSIG",
    "KEYEXPIRED",
    "insufficiently signed",
    "Hash Sum mismatch",
    "File has unexpected size",
    "cannot be authenticated",
    "unauthenticated packages",
    "Conflicting values set for option Signed-By",
};

absl::Status RefuseEntry(absl::string_view path, absl::string_view entry, absl::string_view why) {
  return absl::PermissionDeniedError(absl::StrCat("source list ", path, ": entry \"", entry, "\" ", why,
                                                  "; refusing to install from it"));
}

// Checks one entry's signed-by value(s) and adds the keyrings to `out`.
absl::Status AddKeyrings(absl::string_view path, absl::string_view entry, absl::string_view value,
                         absl::string_view pinned, std::vector<std::string>& out) {
  if (absl::StrContains(value, "BEGIN PGP")) {
    return RefuseEntry(path, entry, "has an inline key in signed-by; name a keyring file instead");
  }
  std::vector<absl::string_view> keyrings = absl::StrSplit(value, ',', absl::SkipWhitespace());
  if (keyrings.empty()) return RefuseEntry(path, entry, "has an empty signed-by");
  for (absl::string_view k : keyrings) {
    k = absl::StripAsciiWhitespace(k);
    if (k.empty() || k.front() != '/') {
      return RefuseEntry(path, entry, absl::StrCat("has signed-by \"", k,
                                                   "\", which is not a keyring file (an absolute path)"));
    }
    if (!pinned.empty() && k != pinned) {
      return RefuseEntry(path, entry, absl::StrCat("is signed-by ", k, ", not the pinned keyring ", pinned,
                                                   " (agent.apt.keyring)"));
    }
    out.emplace_back(k);
  }
  return absl::OkStatus();
}

bool DisablesVerification(absl::string_view key, absl::string_view value) {
  const std::string k = absl::AsciiStrToLower(key);
  const std::string v = absl::AsciiStrToLower(absl::StripAsciiWhitespace(value));
  return (k == "trusted" || k == "allow-insecure" || k == "allow-weak" || k == "allow-downgrade-to-insecure") &&
         v != "no" && v != "false";
}

}  // namespace

absl::StatusOr<std::vector<std::string>> SignedByKeyrings(absl::string_view content, absl::string_view path,
                                                          bool deb822, absl::string_view pinned) {
  std::vector<std::string> keyrings;
  int entries = 0;
  if (!deb822) {
    // deb [opt=value ...] URI suite [component...]
    for (absl::string_view line : absl::StrSplit(content, '\n')) {
      if (const size_t hash = line.find('#'); hash != absl::string_view::npos) line = line.substr(0, hash);
      line = absl::StripAsciiWhitespace(line);
      if (line.empty()) continue;
      ++entries;
      std::vector<absl::string_view> words = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
      if (words[0] != "deb" && words[0] != "deb-src") {
        return RefuseEntry(path, line, "is not a deb or deb-src line");
      }
      const size_t open = line.find('[');
      const size_t close = line.find(']');
      if (open == absl::string_view::npos || close == absl::string_view::npos || close < open) {
        return RefuseEntry(path, line, "has no [signed-by=KEYRING] option, so apt would trust any key it knows");
      }
      bool signed_by = false;
      for (absl::string_view option : absl::StrSplit(line.substr(open + 1, close - open - 1),
                                                     absl::ByAnyChar(" \t"), absl::SkipEmpty())) {
        const size_t eq = option.find('=');
        if (eq == absl::string_view::npos) return RefuseEntry(path, line, absl::StrCat("has option \"", option, "\""));
        absl::string_view key = option.substr(0, eq);
        const absl::string_view value = option.substr(eq + 1);
        if (DisablesVerification(absl::StripSuffix(absl::StripSuffix(key, "+"), "-"), value)) {
          return RefuseEntry(path, line, "turns signature checks off");
        }
        if (absl::AsciiStrToLower(key) == "signed-by") {
          signed_by = true;
          if (absl::Status s = AddKeyrings(path, line, value, pinned, keyrings); !s.ok()) return s;
        } else if (absl::StartsWith(absl::AsciiStrToLower(key), "signed-by")) {
          return RefuseEntry(path, line, absl::StrCat("changes signed-by with \"", key, "\""));
        }
      }
      if (!signed_by) {
        return RefuseEntry(path, line, "has no signed-by option, so apt would trust any key it knows");
      }
    }
  } else {
    // deb822 paragraphs: "Field: value", continuation lines start with a space.
    std::vector<std::pair<std::string, std::string>> fields;
    auto finish = [&]() -> absl::Status {
      if (fields.empty()) return absl::OkStatus();
      std::string types, signed_by, entry;
      bool has_signed_by = false;
      bool enabled = true;
      for (const auto& [k, v] : fields) {
        const std::string key = absl::AsciiStrToLower(k);
        if (key == "types") types = v;
        if (key == "uris") entry = v;
        if (key == "enabled") enabled = absl::AsciiStrToLower(absl::StripAsciiWhitespace(v)) != "no";
        if (key == "signed-by") {
          has_signed_by = true;
          signed_by = v;
        }
        if (DisablesVerification(key, v)) {
          return RefuseEntry(path, entry.empty() ? types : entry, absl::StrCat("turns signature checks off (", k, ")"));
        }
      }
      fields.clear();
      if (!enabled) return absl::OkStatus();
      ++entries;
      if (entry.empty()) entry = types;
      if (!has_signed_by) {
        return RefuseEntry(path, entry, "has no Signed-By field, so apt would trust any key it knows");
      }
      return AddKeyrings(path, entry, absl::StrReplaceAll(signed_by, {{"\n", ","}}), pinned, keyrings);
    };
    for (absl::string_view line : absl::StrSplit(content, '\n')) {
      if (!line.empty() && line.front() == '#') continue;
      if (absl::StripAsciiWhitespace(line).empty()) {
        if (absl::Status s = finish(); !s.ok()) return s;
        continue;
      }
      if ((line.front() == ' ' || line.front() == '\t') && !fields.empty()) {
        absl::StrAppend(&fields.back().second, "\n", absl::StripAsciiWhitespace(line));
        continue;
      }
      const size_t colon = line.find(':');
      if (colon == absl::string_view::npos) return RefuseEntry(path, line, "is not a deb822 field");
      fields.emplace_back(std::string(absl::StripAsciiWhitespace(line.substr(0, colon))),
                          std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
    }
    if (absl::Status s = finish(); !s.ok()) return s;
  }
  if (entries == 0) {
    return absl::InvalidArgumentError(absl::StrCat("source list ", path, " has no entry"));
  }
  return keyrings;
}

absl::StatusOr<std::unique_ptr<AptInstaller>> AptInstaller::Create(const std::string& package,
                                                                    const drover::v1::AptInstaller& config) {
  return Create(package, config, Options{});
}

absl::StatusOr<std::unique_ptr<AptInstaller>> AptInstaller::Create(const std::string& package,
                                                                    const drover::v1::AptInstaller& config,
                                                                    const Options& options) {
  if (!ValidDebianPackageName(package)) {
    return absl::InvalidArgumentError(
        absl::StrCat("agent.name: \"", package,
                     "\" is not a Debian package name (lowercase letters, digits, '+', '-', '.'; "
                     "at least two characters, starting with a letter or digit)"));
  }
  const std::string& list = config.source_list();
  if (list.empty()) {
    return absl::InvalidArgumentError(
        "agent.apt.source_list: required: the agent's own source list, e.g. /etc/apt/sources.list.d/teleport.list");
  }
  if (list.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("agent.apt.source_list: must be an absolute path, got \"", list, "\""));
  }
  struct stat st{};
  if (stat(list.c_str(), &st) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("agent.apt.source_list: ", list, ": ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("agent.apt.source_list: ", list, " is not a regular file"));
  }
  std::vector<std::string> extra;
  for (const std::string& o : config.apt_options()) {
    const std::string lower = absl::AsciiStrToLower(o);
    // Our own options come first and apt takes the last value of an option:
    // an extra one must not be able to switch verification off again.
    if (ContainsAny(lower, {"unauthenticated", "insecure", "trusted", "allowweak", "allow-weak",
                            "sourcelist", "sourceparts", "gpgv"})) {
      return absl::InvalidArgumentError(
          absl::StrCat("agent.apt.apt_options: refusing \"", o,
                       "\": it could weaken signature checks or change which source list is used"));
    }
    extra.push_back(o);
  }
  if (!config.keyring().empty() && config.keyring().front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("agent.apt.keyring: must be an absolute path, got \"", config.keyring(), "\""));
  }
  return std::unique_ptr<AptInstaller>(new AptInstaller(package, list, config.keyring(), std::move(extra), options));
}

std::vector<std::string> AptInstaller::AptCommand(const std::string& tool) const {
  std::vector<std::string> argv = {
      tool,
      "-o", absl::StrCat("Dir::Etc::sourcelist=", source_list_),
      "-o", "Dir::Etc::sourceparts=-",
      "-o", "Acquire::AllowInsecureRepositories=false",
      "-o", "Acquire::AllowDowngradeToInsecureRepositories=false",
      "-o", "APT::Get::AllowUnauthenticated=false",
      "-o", absl::StrCat("DPkg::Lock::Timeout=", absl::ToInt64Seconds(options_.lock_timeout)),
  };
  argv.insert(argv.end(), extra_options_.begin(), extra_options_.end());
  return argv;
}

absl::StatusOr<CommandOutput> AptInstaller::Run(const std::vector<std::string>& argv, absl::Duration timeout) const {
  CommandOptions opts;
  opts.timeout = timeout;
  opts.env = {
      {"DEBIAN_FRONTEND", "noninteractive"},
      {"APT_LISTCHANGES_FRONTEND", "none"},
      // needrestart would restart services on its own; restarting the agent
      // is the updater's job, after the install.
      {"NEEDRESTART_SUSPEND", "1"},
      // Messages we match must be in English.
      {"LC_ALL", "C"},
      {"LANGUAGE", ""},
  };
  return RunPackageTool(argv, opts);
}

absl::Status AptInstaller::Failure(const std::string& what, const CommandOutput& out) const {
  const std::string said = OutputForMessage(out.output);
  if (ContainsAny(out.output, kSignatureFailures)) {
    return absl::PermissionDeniedError(absl::StrCat(
        what, ": apt refused the repository of source list ", source_list_,
        ": it is unsigned, signed by another key than its signed-by key, or a package does not match the "
        "signed index; nothing was installed. Sign the repository with the pinned key (or fix signed-by). apt: ",
        said));
  }
  if (ContainsAny(out.output, {"Could not get lock", "Unable to acquire the dpkg frontend lock",
                               "Unable to lock directory", "Unable to lock the administration directory"})) {
    return absl::UnavailableError(absl::StrCat(what, ": another apt or dpkg run holds the lock (waited ",
                                               absl::FormatDuration(options_.lock_timeout), "); apt: ", said));
  }
  if (ContainsAny(out.output, {"Failed to fetch", "Some index files failed to download", "Temporary failure resolving",
                               "Could not connect", "Connection failed"})) {
    return absl::UnavailableError(
        absl::StrCat(what, ": the repository of source list ", source_list_, " could not be reached; apt: ", said));
  }
  if (ContainsAny(out.output, {"Unable to locate package", "was not found", "has no installation candidate"})) {
    return absl::NotFoundError(
        absl::StrCat(what, ": not in the repository of source list ", source_list_, "; apt: ", said));
  }
  if (absl::StrContains(out.output, "remove is disabled")) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": it would remove other packages, which the updater never does; apt: ", said));
  }
  return absl::InternalError(absl::StrCat(what, " failed (exit ", out.exit_code, "): ", said));
}

absl::Status AptInstaller::CheckSourceList() const {
  if (absl::Status s = CheckTrustedFile(source_list_, "source list (agent.apt.source_list)"); !s.ok()) {
    return absl::FailedPreconditionError(s.message());
  }
  absl::StatusOr<std::string> content = ReadFile(source_list_);
  if (!content.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read source list ", source_list_, " (agent.apt.source_list): ", content.status().message()));
  }
  absl::StatusOr<std::vector<std::string>> keyrings =
      SignedByKeyrings(*content, source_list_, absl::EndsWith(source_list_, ".sources"), keyring_);
  if (!keyrings.ok()) {
    if (absl::IsInvalidArgument(keyrings.status())) return absl::FailedPreconditionError(keyrings.status().message());
    return keyrings.status();
  }
  for (const std::string& keyring : *keyrings) {
    absl::Status s = CheckTrustedFile(keyring, absl::StrCat("signed-by keyring of source list ", source_list_));
    if (!s.ok()) return absl::FailedPreconditionError(s.message());
  }
  return absl::OkStatus();
}

absl::Status AptInstaller::Update() const {
  std::vector<std::string> argv = AptCommand("apt-get");
  argv.insert(argv.end(), {"-q", "-o", "APT::Get::List-Cleanup=0", "update"});
  absl::StatusOr<CommandOutput> out = Run(argv, options_.update_timeout);
  if (!out.ok()) return out.status();
  // apt only warns about some signature problems; any of them refuses here.
  if (out->exit_code != 0 || ContainsAny(out->output, kSignatureFailures)) {
    return Failure(absl::StrCat("apt-get update of ", source_list_), *out);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> AptInstaller::FindPackageVersion(const Semver& wanted) const {
  std::vector<std::string> argv = AptCommand("apt-cache");
  argv.insert(argv.end(), {"madison", package_});
  absl::StatusOr<CommandOutput> out = Run(argv, options_.query_timeout);
  if (!out.ok()) return out.status();
  if (out->exit_code != 0) return Failure(absl::StrCat("apt-cache madison ", package_), *out);
  // " pkg |  1.2.3-1 | file:/srv/repo ./ Packages", newest first.
  std::vector<std::string> available;
  for (absl::string_view line : absl::StrSplit(out->output, '\n')) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, '|');
    if (fields.size() != 3) continue;
    if (absl::StripAsciiWhitespace(fields[0]) != package_) continue;
    if (!absl::EndsWith(absl::StripAsciiWhitespace(fields[2]), "Packages")) continue;
    const std::string package_version(absl::StripAsciiWhitespace(fields[1]));
    available.push_back(package_version);
    absl::StatusOr<Semver> v = SemverFromDebianVersion(package_version);
    if (v.ok() && v->ToString() == wanted.ToString()) return package_version;
  }
  return absl::NotFoundError(absl::StrCat(
      "version ", wanted.ToString(), " of package ", package_, " is not in the repository of source list ",
      source_list_, available.empty() ? " (it has no version of the package)"
                                      : absl::StrCat(" (it has: ", absl::StrJoin(available, ", "), ")")));
}

absl::Status AptInstaller::InstallPackageVersion(const std::string& package_version) const {
  std::vector<std::string> argv = AptCommand("apt-get");
  argv.insert(argv.end(), {"-q", "-y", "--allow-downgrades", "--allow-change-held-packages", "--no-remove",
                           // Keep locally changed conffiles without asking.
                           "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
                           "install", absl::StrCat(package_, "=", package_version)});
  const std::string what = absl::StrCat("apt-get install ", package_, "=", package_version);
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<CommandOutput> out = Run(argv, options_.install_timeout);
    if (!out.ok()) return out.status();
    if (out->exit_code == 0) return absl::OkStatus();
    // A dpkg run killed half-way (perhaps ours, in an earlier pass) blocks
    // apt until it is finished; finish it, then try once more.
    if (attempt == 0 && absl::StrContains(out->output, "dpkg was interrupted")) {
      LogWarning("apt: dpkg was interrupted earlier; running dpkg --configure -a before installing");
      absl::StatusOr<CommandOutput> fix = Run({"dpkg", "--configure", "-a"}, options_.install_timeout);
      if (!fix.ok()) return fix.status();
      if (fix->exit_code != 0) return Failure("dpkg --configure -a", *fix);
      continue;
    }
    return Failure(what, *out);
  }
}

absl::Status AptInstaller::Hold() const {
  std::vector<std::string> argv = AptCommand("apt-mark");
  argv.insert(argv.end(), {"hold", package_});
  absl::StatusOr<CommandOutput> out = Run(argv, options_.query_timeout);
  if (!out.ok()) return out.status();
  if (out->exit_code != 0) return Failure(absl::StrCat("apt-mark hold ", package_), *out);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> AptInstaller::InstalledVersion() {
  absl::StatusOr<CommandOutput> out =
      Run({"dpkg-query", "-W", "-f=${db:Status-Abbrev}\t${Version}\n", package_}, options_.query_timeout);
  if (!out.ok()) return out.status();
  if (out->exit_code == 1 && absl::StrContains(out->output, "no packages found")) return std::nullopt;
  if (out->exit_code != 0) {
    return absl::InternalError(absl::StrCat("dpkg-query -W ", package_, " failed (exit ", out->exit_code,
                                            "): ", OutputForMessage(out->output)));
  }
  // "hi \t1.2.3\n": desired state (h = hold), package state (i = installed).
  const absl::string_view first = absl::string_view(out->output).substr(0, out->output.find('\n'));
  std::vector<absl::string_view> fields = absl::StrSplit(first, '\t');
  if (fields.size() != 2 || fields[0].size() < 2) {
    return absl::InternalError(absl::StrCat("dpkg-query -W ", package_, ": unexpected output \"", first, "\""));
  }
  const char desired = fields[0][0];
  const char state = fields[0][1];
  if (state == 'n' || state == 'c') return std::nullopt;  // not installed, or only conffiles left
  if (state != 'i') {
    LogWarning(absl::StrCat("apt: package ", package_, " ", fields[1], " is half-installed (dpkg status \"",
                            fields[0], "\"); treating it as not installed, the next install repairs it"));
    return std::nullopt;
  }
  absl::StatusOr<Semver> version = SemverFromDebianVersion(fields[1]);
  if (!version.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("installed package ", package_, ": ", version.status().message()));
  }
  if (desired != 'h') {
    // Installed but not held: an earlier pass was stopped between install
    // and hold. Without the hold a plain `apt upgrade` would move it.
    LogWarning(absl::StrCat("apt: package ", package_, " ", fields[1], " is not held; holding it again"));
    if (absl::Status held = Hold(); !held.ok()) {
      LogError(absl::StrCat("apt: could not hold ", package_, ": ", held.message()));
    }
  }
  return version->ToString();
}

absl::Status AptInstaller::Install(const std::string& version) {
  absl::StatusOr<Semver> wanted = Semver::Parse(version);
  if (!wanted.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("apt: refusing version: ", wanted.status().message()));
  }
  if (absl::Status s = CheckSourceList(); !s.ok()) return s;
  if (absl::Status s = Update(); !s.ok()) return s;
  absl::StatusOr<std::string> package_version = FindPackageVersion(*wanted);
  if (!package_version.ok()) return package_version.status();
  LogInfo(absl::StrCat("apt: installing ", package_, "=", *package_version, " from ", source_list_));
  if (absl::Status s = InstallPackageVersion(*package_version); !s.ok()) return s;
  // apt-get install drops an existing hold, so hold after every install.
  if (absl::Status s = Hold(); !s.ok()) return s;

  absl::StatusOr<std::optional<std::string>> installed = InstalledVersion();
  if (!installed.ok()) return installed.status();
  if (*installed != wanted->ToString()) {
    return absl::InternalError(absl::StrCat("apt-get install ", package_, "=", *package_version,
                                            " succeeded but dpkg reports ", installed->value_or("nothing installed")));
  }
  return absl::OkStatus();
}

}  // namespace drover::updater
