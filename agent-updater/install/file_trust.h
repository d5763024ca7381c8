// Whether a file that decides what gets installed (a keyring, a source
// list) can be changed by someone other than root.
#pragma once

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace drover::updater {

// Root, or the user the updater runs as (root in production).
bool TrustedOwner(uid_t uid);

// OK when `path` (followed if a symlink) is a regular file owned by a
// trusted user and not writable by group or others. FailedPrecondition
// naming `what` (e.g. "keyring of source list X") and the fix otherwise;
// NotFound when it does not exist.
absl::Status CheckTrustedFile(const std::string& path, absl::string_view what);

}  // namespace drover::updater
