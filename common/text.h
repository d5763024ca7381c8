// Rules about text people type (reasons, notes) that more than one program
// applies: what counts as blank in Unicode, not only in ASCII.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace drover {

// Decodes the code point at the start of `s` into `*code_point`; returns its
// length in bytes, or 0 when `s` does not start with well-formed UTF-8 (the
// rules protobuf checks: no overlong forms, no surrogates, nothing above
// U+10FFFF). The one UTF-8 decoder of the project.
size_t DecodeUtf8(absl::string_view s, uint32_t* code_point);

// True when all of `s` is well-formed UTF-8 by DecodeUtf8's rules.
bool IsValidUtf8(absl::string_view s);

// True when `utf8` holds nothing a reader would see: only Unicode White_Space
// (ASCII spaces, U+00A0, U+3000, ...) and invisible format characters
// (zero-width spaces and joiners, U+FEFF). Bytes that are not valid UTF-8
// count as visible.
bool IsBlank(absl::string_view utf8);

// `utf8` without the blank characters IsBlank knows at either end.
absl::string_view TrimBlank(absl::string_view utf8);

}  // namespace drover
