// Makes text and times fit what the coordinator accepts (common/api_limits.h):
// whatever a health command, tar or a package manager printed becomes valid
// UTF-8 without control characters, cut on a character boundary; a time from
// a host whose clock is off is clamped into the accepted range.
#pragma once

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace drover::wire {

// The longest prefix of `utf8` of at most `max_bytes` that does not end
// inside a character, and the longest such suffix: the one way the project
// cuts text to a byte limit. (Bytes that are not UTF-8 stay as they are.)
absl::string_view Utf8Prefix(absl::string_view utf8, size_t max_bytes);
absl::string_view Utf8Suffix(absl::string_view utf8, size_t max_bytes);

enum class TextLines { kOne, kMany };

// Drops terminal escape sequences (colours: "\033[31m") and control
// characters (C0, DEL, C1; kMany keeps newlines and tabs, kOne turns them into
// spaces), replaces bytes that are not UTF-8 with U+FFFD, and cuts the result
// to at most `max_bytes` on a character boundary, ending it with "..." when
// cut.
std::string SanitizeText(absl::string_view text, size_t max_bytes, TextLines lines);

// `t` clamped into [kEarliestReportTime, coordinator_now]: what a coordinator
// whose clock reads `coordinator_now` (or later) accepts.
absl::Time ClampReportTime(absl::Time t, absl::Time coordinator_now);

}  // namespace drover::wire
