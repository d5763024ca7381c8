// Crash-safe file writes (write to a temporary, fsync, rename, fsync the
// directory) and whole-file reads.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace drover {

// After a crash the file holds either its old content or `content`, never a mix.
absl::Status WriteFileAtomically(const std::string& path, const std::string& content, int mode = 0644);

// NotFound when the file does not exist.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// fsync a directory, so a rename or unlink inside it is durable.
absl::Status SyncDirectory(const std::string& dir);

}  // namespace drover
