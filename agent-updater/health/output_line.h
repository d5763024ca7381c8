// A command's output squeezed onto one bounded line, for messages.
#pragma once

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "proto/wire/report_text.h"

namespace drover::updater {

// Non-empty lines joined with "; ", keeping the end (where errors are) when
// it is longer than `max`.
inline std::string OutputOneLine(absl::string_view output, size_t max = 300) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(output, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    if (!out.empty()) out.append("; ");
    out.append(line.data(), line.size());
  }
  if (out.size() > max) out = absl::StrCat("...", wire::Utf8Suffix(out, max));
  return out;
}

}  // namespace drover::updater
