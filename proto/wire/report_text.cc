#include "proto/wire/report_text.h"

#include <algorithm>
#include <cstdint>

#include "common/api_limits.h"
#include "common/text.h"

namespace drover::wire {
namespace {

constexpr absl::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr absl::string_view kCut = "...";

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Length of the terminal escape sequence at the start of `s` (which starts
// with ESC): CSI "ESC [ params intermediates final" (colours), else
// "ESC intermediates final" (e.g. "ESC ( B").
size_t EscapeLength(absl::string_view s) {
  size_t i = 1;
  if (i < s.size() && s[i] == '[') {
    ++i;
    while (i < s.size() && s[i] >= 0x30 && s[i] <= 0x3F) ++i;
    while (i < s.size() && s[i] >= 0x20 && s[i] <= 0x2F) ++i;
    if (i < s.size() && s[i] >= 0x40 && s[i] <= 0x7E) ++i;
    return i;
  }
  while (i < s.size() && s[i] >= 0x20 && s[i] <= 0x2F) ++i;
  if (i < s.size() && s[i] >= 0x30 && s[i] <= 0x7E) ++i;
  return i;
}

}  // namespace

absl::string_view Utf8Prefix(absl::string_view utf8, size_t max_bytes) {
  if (utf8.size() <= max_bytes) return utf8;
  size_t keep = max_bytes;
  while (keep > 0 && IsContinuationByte(utf8[keep])) --keep;
  return utf8.substr(0, keep);
}

absl::string_view Utf8Suffix(absl::string_view utf8, size_t max_bytes) {
  if (utf8.size() <= max_bytes) return utf8;
  size_t from = utf8.size() - max_bytes;
  while (from < utf8.size() && IsContinuationByte(utf8[from])) ++from;
  return utf8.substr(from);
}

std::string SanitizeText(absl::string_view text, size_t max_bytes, TextLines lines) {
  std::string clean;
  clean.reserve(std::min(text.size(), max_bytes + 8));
  while (!text.empty() && clean.size() <= max_bytes) {
    const unsigned char c = static_cast<unsigned char>(text[0]);
    if (c == 0x1B) {
      text.remove_prefix(EscapeLength(text));
      continue;
    }
    if (c == '\n' || c == '\t') {
      clean.push_back(lines == TextLines::kMany ? static_cast<char>(c) : ' ');
      text.remove_prefix(1);
      continue;
    }
    if (c < 0x20 || c == 0x7F) {
      text.remove_prefix(1);
      continue;
    }
    uint32_t code_point = 0;
    const size_t n = DecodeUtf8(text, &code_point);
    if (n == 0) {
      clean.append(kReplacement.data(), kReplacement.size());
      text.remove_prefix(1);
      continue;
    }
    // C1 controls (U+0080..U+009F) are control characters too.
    if (n == 2 && c == 0xC2 && static_cast<unsigned char>(text[1]) <= 0x9F) {
      text.remove_prefix(2);
      continue;
    }
    clean.append(text.data(), n);
    text.remove_prefix(n);
  }
  if (clean.size() <= max_bytes && text.empty()) return clean;
  // Cut: keep room for the marker, then back off to a character boundary.
  clean.resize(Utf8Prefix(clean, max_bytes >= kCut.size() ? max_bytes - kCut.size() : max_bytes).size());
  if (max_bytes >= kCut.size()) clean.append(kCut.data(), kCut.size());
  return clean;
}

absl::Time ClampReportTime(absl::Time t, absl::Time coordinator_now) {
  if (t > coordinator_now) t = coordinator_now;
  if (t < kEarliestReportTime) t = kEarliestReportTime;
  return t;
}

}  // namespace drover::wire
