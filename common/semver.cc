#include "absl/strings/string_view.h"
#include "common/semver.h"

#include <charconv>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace drover {
namespace {

bool IsDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool IsIdentifierChar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

absl::Status Bad(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid version \"", absl::CHexEscape(text), "\": ", why,
                   " (expected strict semver such as 1.2.3 or v1.2.3-rc.1)"));
}

// A numeric part: digits, no leading zero unless it is "0".
bool ParseNumber(absl::string_view s, uint64_t* out) {
  if (!IsDigits(s)) return false;
  if (s.size() > 1 && s[0] == '0') return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace

absl::StatusOr<Semver> Semver::Parse(absl::string_view text) {
  if (text.empty()) return Bad(text, "empty");
  if (text.size() > kMaxLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid version \"", absl::CHexEscape(text.substr(0, 32)), "...\": longer than ", kMaxLength, " characters"));
  }
  absl::string_view rest = text;
  if (rest[0] == 'v') rest.remove_prefix(1);

  Semver v;
  if (size_t plus = rest.find('+'); plus != absl::string_view::npos) {
    absl::string_view build = rest.substr(plus + 1);
    rest = rest.substr(0, plus);
    for (absl::string_view id : absl::StrSplit(build, '.')) {
      if (id.empty()) return Bad(text, "empty build identifier");
      for (char c : id) {
        if (!IsIdentifierChar(c)) return Bad(text, "build metadata may hold only [0-9A-Za-z-.]");
      }
    }
    v.build_ = std::string(build);
  }
  if (size_t dash = rest.find('-'); dash != absl::string_view::npos) {
    absl::string_view pre = rest.substr(dash + 1);
    rest = rest.substr(0, dash);
    for (absl::string_view id : absl::StrSplit(pre, '.')) {
      if (id.empty()) return Bad(text, "empty pre-release identifier");
      for (char c : id) {
        if (!IsIdentifierChar(c)) return Bad(text, "pre-release may hold only [0-9A-Za-z-.]");
      }
      if (IsDigits(id) && id.size() > 1 && id[0] == '0') {
        return Bad(text, "numeric pre-release identifier with a leading zero");
      }
      v.prerelease_ids_.emplace_back(id);
    }
    v.prerelease_ = std::string(pre);
  }
  std::vector<absl::string_view> core = absl::StrSplit(rest, '.');
  if (core.size() != 3) return Bad(text, "need MAJOR.MINOR.PATCH");
  uint64_t* parts[] = {&v.major_, &v.minor_, &v.patch_};
  for (int i = 0; i < 3; ++i) {
    if (!ParseNumber(core[i], parts[i])) {
      return Bad(text, "MAJOR, MINOR and PATCH must be numbers without leading zeros");
    }
  }
  return v;
}

std::string Semver::ToString() const {
  std::string s = absl::StrCat(major_, ".", minor_, ".", patch_);
  if (!prerelease_.empty()) absl::StrAppend(&s, "-", prerelease_);
  if (!build_.empty()) absl::StrAppend(&s, "+", build_);
  return s;
}

int Semver::Compare(const Semver& o) const {
  if (major_ != o.major_) return major_ < o.major_ ? -1 : 1;
  if (minor_ != o.minor_) return minor_ < o.minor_ ? -1 : 1;
  if (patch_ != o.patch_) return patch_ < o.patch_ ? -1 : 1;
  // A version without pre-release ranks above one with it.
  if (prerelease_ids_.empty() || o.prerelease_ids_.empty()) {
    if (prerelease_ids_.empty() && o.prerelease_ids_.empty()) return 0;
    return prerelease_ids_.empty() ? 1 : -1;
  }
  size_t n = std::min(prerelease_ids_.size(), o.prerelease_ids_.size());
  for (size_t i = 0; i < n; ++i) {
    const std::string& a = prerelease_ids_[i];
    const std::string& b = o.prerelease_ids_[i];
    bool an = IsDigits(a), bn = IsDigits(b);
    if (an && bn) {
      // No leading zeros, so longer means larger; equal length compares lexically.
      if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
      if (a != b) return a < b ? -1 : 1;
    } else if (an != bn) {
      return an ? -1 : 1;  // numeric identifiers rank below alphanumeric ones
    } else if (a != b) {
      return a < b ? -1 : 1;
    }
  }
  if (prerelease_ids_.size() != o.prerelease_ids_.size()) {
    return prerelease_ids_.size() < o.prerelease_ids_.size() ? -1 : 1;
  }
  return 0;
}

}  // namespace drover
