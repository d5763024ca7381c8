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

// A numeric part: digits, no leading zero unless it is "0", at most
// 2^64 - 1. Returns "" or what is wrong with it.
std::string ParseNumber(absl::string_view name, absl::string_view s, uint64_t* out) {
  if (s.empty()) return absl::StrCat(name, " is empty");
  if (!IsDigits(s)) return absl::StrCat(name, " \"", absl::CHexEscape(s), "\" is not a number");
  if (s.size() > 1 && s[0] == '0') return absl::StrCat(name, " ", s, " has a leading zero");
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  if (ec == std::errc::result_out_of_range) {
    return absl::StrCat(name, " ", s, " is too large (at most 18446744073709551615)");
  }
  if (ec != std::errc() || ptr != s.data() + s.size()) return absl::StrCat(name, " ", s, " is not a number");
  return "";
}

bool IsAsciiSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace

absl::StatusOr<Semver> Semver::Parse(absl::string_view text) {
  if (text.empty()) return Bad(text, "empty");
  if (text.size() > kMaxLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid version \"", absl::CHexEscape(text.substr(0, 32)), "...\": longer than ", kMaxLength, " characters"));
  }
  if (IsAsciiSpace(text.front())) return Bad(text, "leading whitespace");
  if (IsAsciiSpace(text.back())) return Bad(text, "trailing whitespace");
  absl::string_view rest = text;
  if (rest[0] == 'V') return Bad(text, "the prefix must be a lowercase \"v\"");
  if (rest[0] == 'v') rest.remove_prefix(1);
  if (!rest.empty() && (rest[0] == 'v' || rest[0] == 'V')) return Bad(text, "more than one leading \"v\"");

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
  static constexpr const char* kNames[] = {"MAJOR", "MINOR", "PATCH"};
  for (int i = 0; i < 3; ++i) {
    if (std::string why = ParseNumber(kNames[i], core[i], parts[i]); !why.empty()) return Bad(text, why);
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
