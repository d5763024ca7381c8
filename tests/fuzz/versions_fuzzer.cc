// Versions, from wherever they come: the coordinator's API and stored rows,
// the target an updater reads, and the version strings dpkg and rpm print
// (install/package_version.h). The input is up to three lines a, b, c.
// Invariants: strict semver has one printed form; precedence is an order;
// the version policy says the same thing both ways; a version mapped to a
// package version maps back to itself.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent-updater/install/package_version.h"
#include "common/semver.h"
#include "common/text.h"
#include "common/version_policy.h"
#include "tests/fuzz/fuzz_check.h"

namespace drover::fuzz {
namespace {

int Sign(int x) { return (x > 0) - (x < 0); }

std::optional<Semver> CheckParse(absl::string_view text) {
  absl::StatusOr<Semver> v = Semver::Parse(text);
  if (!v.ok()) {
    FUZZ_CHECK(v.status().code() == absl::StatusCode::kInvalidArgument, v.status().ToString());
    FUZZ_CHECK(IsValidUtf8(v.status().message()), Show(v.status().message()));
    return std::nullopt;
  }
  const std::string printed = v->ToString();
  FUZZ_CHECK(printed.size() <= Semver::kMaxLength, Show(printed));
  // One printed form: the input itself, less a leading "v".
  FUZZ_CHECK(printed == (absl::StartsWith(text, "v") ? text.substr(1) : text), Show(text) + " -> " + Show(printed));
  absl::StatusOr<Semver> again = Semver::Parse(printed);
  FUZZ_CHECK(again.ok() && again->ToString() == printed && again->Compare(*v) == 0, Show(printed));
  FUZZ_CHECK(v->Compare(*v) == 0 && v->SamePrecedence(*v), Show(printed));
  return *v;
}

void CheckPackageVersions(const Semver& v) {
  const std::string package = updater::PackageVersionFromSemver(v);
  absl::StatusOr<Semver> from_rpm = updater::SemverFromRpmVersion(package);
  FUZZ_CHECK(from_rpm.ok() && from_rpm->ToString() == v.ToString(),
             absl::StrCat(v.ToString(), " -> rpm ", package, " -> ",
                          from_rpm.ok() ? from_rpm->ToString() : from_rpm.status().ToString()));
  // Without a revision only when it has no "-": dpkg reads the last "-" as
  // the start of one ("1.2.3~rc-1" is upstream 1.2.3~rc, revision 1).
  if (package.find('-') == std::string::npos) {
    absl::StatusOr<Semver> from_deb = updater::SemverFromDebianVersion(package);
    FUZZ_CHECK(from_deb.ok() && from_deb->ToString() == v.ToString(),
               absl::StrCat(v.ToString(), " -> deb ", package, " -> ",
                            from_deb.ok() ? from_deb->ToString() : from_deb.status().ToString()));
  }
  // With the epoch and revision a Debian repository adds.
  absl::StatusOr<Semver> revised = updater::SemverFromDebianVersion(absl::StrCat("1:", package, "-1"));
  FUZZ_CHECK(revised.ok() && revised->ToString() == v.ToString(), absl::StrCat(v.ToString(), " -> 1:", package, "-1"));
}

void CheckPolicy(const Semver& version, const Semver& control_plane) {
  const std::string reason = OutOfPolicyReason(version, control_plane);
  const absl::Status s = CheckVersionPolicy(version, control_plane, "target version");
  FUZZ_CHECK(reason.empty() == s.ok(), reason);
  const bool in_policy =
      version <= control_plane && (control_plane.major() == 0 || version.major() >= control_plane.major() - 1);
  FUZZ_CHECK(in_policy == reason.empty(), absl::StrCat(version.ToString(), " / ", control_plane.ToString(), ": ", reason));
  if (!s.ok()) FUZZ_CHECK(s.code() == absl::StatusCode::kFailedPrecondition, s.ToString());
}

}  // namespace
}  // namespace drover::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace drover;
  using namespace drover::fuzz;
  const absl::string_view input = AsText(data, size);
  std::vector<absl::string_view> lines = absl::StrSplit(input, absl::MaxSplits('\n', 2));
  std::vector<Semver> versions;
  for (absl::string_view line : lines) {
    if (std::optional<Semver> v = CheckParse(line)) versions.push_back(*v);
    // What dpkg-query and rpm print: anything maps to semver or fails cleanly,
    // and what maps, maps back.
    for (bool debian : {true, false}) {
      absl::StatusOr<Semver> v = debian ? updater::SemverFromDebianVersion(line) : updater::SemverFromRpmVersion(line);
      if (!v.ok()) {
        FUZZ_CHECK(v.status().code() == absl::StatusCode::kFailedPrecondition, v.status().ToString());
      }
    }
  }
  // What an error message quotes of a package manager's output: one line, at
  // most the limit asked for, and UTF-8 when the output was.
  for (size_t max : {size_t{0}, size_t{3}, size_t{16}, size_t{64}}) {
    const std::string output = updater::OutputForMessage(input, max);
    const std::string what = absl::StrCat("OutputForMessage(", Show(input), ", ", max, ") = ", Show(output));
    FUZZ_CHECK(output.find('\n') == std::string::npos && output.find('\r') == std::string::npos, what);
    FUZZ_CHECK(output.size() <= std::max(max, std::string("(no output)").size()), what);
    if (IsValidUtf8(input)) FUZZ_CHECK(IsValidUtf8(output), what);
  }
  for (const Semver& v : versions) CheckPackageVersions(v);
  for (const Semver& a : versions) {
    for (const Semver& b : versions) {
      FUZZ_CHECK(Sign(a.Compare(b)) == -Sign(b.Compare(a)), a.ToString() + " / " + b.ToString());
      CheckPolicy(a, b);
      for (const Semver& c : versions) {
        if (a <= b && b <= c) FUZZ_CHECK(a <= c, a.ToString() + " <= " + b.ToString() + " <= " + c.ToString());
      }
    }
  }
  return 0;
}
