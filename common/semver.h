// Strict Semantic Versioning 2.0.0 parsing and precedence.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"

namespace drover {

class Semver {
 public:
  // Longest accepted version string, so stored values stay bounded.
  static constexpr size_t kMaxLength = 128;

  // Parses "1.2.3", "1.2.3-rc.1+build.5"; a leading "v" is accepted and
  // dropped. Errors are InvalidArgument and quote the input.
  static absl::StatusOr<Semver> Parse(absl::string_view text);

  uint64_t major() const { return major_; }
  uint64_t minor() const { return minor_; }
  uint64_t patch() const { return patch_; }
  const std::string& prerelease() const { return prerelease_; }
  const std::string& build() const { return build_; }

  // Normalised form, without a leading "v".
  std::string ToString() const;

  // Precedence as semver defines it: build metadata is ignored.
  // Returns <0, 0, >0.
  int Compare(const Semver& other) const;

  friend bool operator<(const Semver& a, const Semver& b) { return a.Compare(b) < 0; }
  friend bool operator>(const Semver& a, const Semver& b) { return a.Compare(b) > 0; }
  friend bool operator<=(const Semver& a, const Semver& b) { return a.Compare(b) <= 0; }
  friend bool operator>=(const Semver& a, const Semver& b) { return a.Compare(b) >= 0; }
  // Same precedence (build metadata ignored).
  bool SamePrecedence(const Semver& other) const { return Compare(other) == 0; }

 private:
  uint64_t major_ = 0;
  uint64_t minor_ = 0;
  uint64_t patch_ = 0;
  std::string prerelease_;
  std::string build_;
  std::vector<std::string> prerelease_ids_;
};

}  // namespace drover
