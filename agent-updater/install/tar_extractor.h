// Unpacks a gzip-compressed tar archive with libarchive, member by member
// through CheckTarMember and a TarBudget, into a directory given as an open
// file descriptor. Every path is walked from that descriptor with
// O_NOFOLLOW, so nothing is ever written through a symlink, and files are
// created with O_EXCL, so a member cannot overwrite another.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "agent-updater/install/tar_member.h"

namespace drover::updater {

// Reads the archive from `archive_fd` (from its current offset) and unpacks
// it below `dest_dir_fd`; `dest` names that directory in messages. Errors:
// PermissionDenied for a member that is not allowed, ResourceExhausted past
// a limit, FailedPrecondition for a damaged archive or an empty one,
// Internal for I/O errors. On error, what was unpacked so far stays: the
// caller unpacks into a fresh directory and removes it.
absl::Status ExtractTarGz(int archive_fd, int dest_dir_fd, const std::string& dest, const TarLimits& limits);

}  // namespace drover::updater
