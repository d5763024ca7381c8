#include "common/text.h"

#include <cstdint>

namespace drover {
namespace {

// Unicode's White_Space property, plus the zero-width characters that render
// as nothing (U+180E, U+200B..U+200D, U+2060, U+FEFF).
bool IsBlankCodePoint(uint32_t c) {
  return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 || c == 0x180e ||
         (c >= 0x2000 && c <= 0x200d) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x2060 ||
         c == 0x3000 || c == 0xfeff;
}

// Length of the blank character starting `s`, or 0.
size_t BlankPrefix(absl::string_view s) {
  uint32_t c = 0;
  const size_t n = DecodeUtf8(s, &c);
  return n > 0 && IsBlankCodePoint(c) ? n : 0;
}

// Length of the blank character ending `s`, or 0.
size_t BlankSuffix(absl::string_view s) {
  for (size_t len = 1; len <= 4 && len <= s.size(); ++len) {
    const absl::string_view tail = s.substr(s.size() - len);
    uint32_t c = 0;
    if (DecodeUtf8(tail, &c) == len) return IsBlankCodePoint(c) ? len : 0;
  }
  return 0;
}

}  // namespace

size_t DecodeUtf8(absl::string_view s, uint32_t* out) {
  if (s.empty()) return 0;
  const auto b = [&](size_t i) { return static_cast<uint8_t>(s[i]); };
  const uint8_t lead = b(0);
  size_t len;
  uint32_t c;
  if (lead < 0x80) {
    *out = lead;
    return 1;
  } else if ((lead & 0xe0) == 0xc0) {
    len = 2;
    c = lead & 0x1f;
  } else if ((lead & 0xf0) == 0xe0) {
    len = 3;
    c = lead & 0x0f;
  } else if ((lead & 0xf8) == 0xf0) {
    len = 4;
    c = lead & 0x07;
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  for (size_t i = 1; i < len; ++i) {
    if ((b(i) & 0xc0) != 0x80) return 0;
    c = (c << 6) | (b(i) & 0x3f);
  }
  static constexpr uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (c < kMin[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
  *out = c;
  return len;
}

bool IsValidUtf8(absl::string_view s) {
  uint32_t c;
  while (!s.empty()) {
    const size_t n = DecodeUtf8(s, &c);
    if (n == 0) return false;
    s.remove_prefix(n);
  }
  return true;
}

absl::string_view TrimBlank(absl::string_view utf8) {
  while (size_t n = BlankPrefix(utf8)) utf8.remove_prefix(n);
  while (size_t n = BlankSuffix(utf8)) utf8.remove_suffix(n);
  return utf8;
}

bool IsBlank(absl::string_view utf8) { return TrimBlank(utf8).empty(); }

}  // namespace drover
