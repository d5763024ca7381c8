// Rules about text people type (reasons, notes) that more than one program
// applies: what counts as blank in Unicode, not only in ASCII.
#pragma once

#include "absl/strings/string_view.h"

namespace drover {

// True when `utf8` holds nothing a reader would see: only Unicode White_Space
// (ASCII spaces, U+00A0, U+3000, ...) and invisible format characters
// (zero-width spaces and joiners, U+FEFF). Bytes that are not valid UTF-8
// count as visible.
bool IsBlank(absl::string_view utf8);

// `utf8` without the blank characters IsBlank knows at either end.
absl::string_view TrimBlank(absl::string_view utf8);

}  // namespace drover
