// What a tarball member may be, decided without touching the file system:
// CheckTarMember is a pure function (fuzzed), TarBudget counts what an
// archive has unpacked so far. The extractor (tar_extractor.h) applies both.
//
// Allowed: regular files, directories, symlinks whose target stays inside
// the version directory, hard links to another member. Refused: device
// nodes, FIFOs, sockets, anything else; absolute paths and `..`; names that
// are too long. Modes keep only rwxr-xr-x: setuid, setgid and sticky bits
// and group/other write are dropped (the agent's files belong to root and no
// one else may change them).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace drover::updater {

enum class TarMemberType {
  kRegular,
  kDirectory,
  kSymlink,
  kHardlink,
  kCharDevice,
  kBlockDevice,
  kFifo,
  kSocket,
  kOther,
};

absl::string_view TarMemberTypeName(TarMemberType type);

// A member as the archive describes it.
struct TarMember {
  TarMemberType type = TarMemberType::kOther;
  std::string path;         // as stored, e.g. "./bin/agent"
  std::string link_target;  // symlink target, or the hard link's member path
  uint32_t mode = 0;        // permission bits as stored (07777)
  int64_t size = 0;         // data bytes (regular files)
};

inline constexpr size_t kMaxTarPathBytes = 1024;
inline constexpr size_t kMaxTarComponentBytes = 255;
// Permission bits an unpacked file or directory keeps.
inline constexpr uint32_t kTarModeMask = 0755;

// A member that may be unpacked, in the form the extractor uses.
struct CheckedTarMember {
  TarMemberType type = TarMemberType::kOther;
  // Path components below the version directory; empty for the archive's
  // root itself ("./"), which carries nothing to unpack.
  std::vector<std::string> components;
  // kSymlink: the target as stored (checked to stay inside).
  std::string symlink_target;
  // kHardlink: the linked member's components.
  std::vector<std::string> hardlink_components;
  uint32_t mode = 0;  // already masked with kTarModeMask
  int64_t size = 0;
};

// OK with the member in checked form, or PermissionDenied quoting the
// member's path and saying what is not allowed.
absl::StatusOr<CheckedTarMember> CheckTarMember(const TarMember& member);

// Limits on one archive: a gzip bomb or a flood of tiny files stops at the
// first member past a limit.
struct TarLimits {
  int64_t max_bytes = int64_t{2} << 30;  // sum of regular file sizes
  int64_t max_members = 100000;
};

class TarBudget {
 public:
  explicit TarBudget(TarLimits limits) : limits_(limits) {}
  // Counts one member of `size` data bytes; ResourceExhausted naming the
  // member and the limit once the archive goes past one.
  absl::Status Add(absl::string_view path, int64_t size);
  int64_t bytes() const { return bytes_; }
  int64_t members() const { return members_; }

 private:
  TarLimits limits_;
  int64_t bytes_ = 0;
  int64_t members_ = 0;
};

}  // namespace drover::updater
