#include "agent-updater/install/package_version.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "proto/wire/report_text.h"

namespace drover::updater {
namespace {

constexpr size_t kTailLines = 8;

absl::StatusOr<Semver> FromPackageVersion(absl::string_view kind, absl::string_view original,
                                          absl::string_view version) {
  std::string text(version);
  const size_t tilde = text.find('~');
  if (tilde != std::string::npos) text[tilde] = '-';
  absl::StatusOr<Semver> parsed = Semver::Parse(text);
  if (!parsed.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(kind, " version \"", original,
                                                      "\" does not map to a semver version (", text,
                                                      "): Drover manages semver-versioned agents only"));
  }
  return parsed;
}

}  // namespace

std::string PackageVersionFromSemver(const Semver& version) {
  std::string text = version.ToString();
  // The first '-' of a semver string is always the pre-release separator.
  const size_t dash = text.find('-');
  const size_t plus = text.find('+');
  if (dash != std::string::npos && (plus == std::string::npos || dash < plus)) text[dash] = '~';
  return text;
}

absl::StatusOr<Semver> SemverFromDebianVersion(absl::string_view debian_version) {
  absl::string_view v = absl::StripAsciiWhitespace(debian_version);
  const size_t colon = v.find(':');
  if (colon != absl::string_view::npos) v.remove_prefix(colon + 1);
  const size_t dash = v.rfind('-');
  if (dash != absl::string_view::npos) v = v.substr(0, dash);
  return FromPackageVersion("Debian", debian_version, v);
}

absl::StatusOr<Semver> SemverFromRpmVersion(absl::string_view rpm_version) {
  return FromPackageVersion("rpm", rpm_version, absl::StripAsciiWhitespace(rpm_version));
}

std::string OutputForMessage(absl::string_view output, size_t max_chars) {
  std::vector<absl::string_view> lines;
  for (absl::string_view line : absl::StrSplit(output, absl::ByAnyChar("\r\n"), absl::SkipWhitespace())) {
    lines.push_back(absl::StripAsciiWhitespace(line));
  }
  std::vector<absl::string_view> picked;
  for (absl::string_view line : lines) {
    if (absl::StartsWith(line, "E:") || absl::StartsWith(line, "W:") || absl::StartsWith(line, "Error:") ||
        absl::StartsWith(line, "Err:") || absl::StartsWith(line, "dpkg: error") ||
        // dnf names the offending package on a line of its own.
        absl::StrContains(line, "is not signed") || absl::StrContains(line, "Public key for") ||
        absl::StrContains(line, "NO_PUBKEY") || absl::StrContains(line, "signatures couldn't be verified") ||
        absl::StrContains(line, "signatures were invalid")) {
      picked.push_back(line);
    }
  }
  if (picked.empty()) {
    const size_t from = lines.size() > kTailLines ? lines.size() - kTailLines : 0;
    picked.assign(lines.begin() + from, lines.end());
  }
  std::string text = absl::StrJoin(picked, "; ");
  if (text.empty()) return "(no output)";
  // Keep the end: the last lines say why it finally failed. The "..." that
  // says so counts against the limit (found by tests/fuzz/versions_fuzzer).
  if (text.size() > max_chars) {
    constexpr absl::string_view kCut = "...";
    text = max_chars > kCut.size() ? absl::StrCat(kCut, wire::Utf8Suffix(text, max_chars - kCut.size()))
                                   : std::string(wire::Utf8Suffix(text, max_chars));
  }
  return text;
}

absl::StatusOr<CommandOutput> RunPackageTool(const std::vector<std::string>& argv, const CommandOptions& options) {
  absl::StatusOr<CommandOutput> out = RunCommand(argv, options);
  if (!out.ok()) return out.status();
  if (out->timed_out) {
    return absl::DeadlineExceededError(absl::StrCat(CommandLineForLog(argv), " did not finish within ",
                                                    absl::FormatDuration(options.timeout), " and was killed; output: ",
                                                    OutputForMessage(out->output)));
  }
  return out;
}

}  // namespace drover::updater
