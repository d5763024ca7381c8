#include "agent-updater/install/tar_member.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace drover::updater {
namespace {

absl::Status Refuse(absl::string_view path, absl::string_view why) {
  return absl::PermissionDeniedError(absl::StrCat("tarball member \"", absl::CEscape(path), "\": ", why));
}

// Splits an archive path into components, dropping "." and empty ones (so
// "./bin//x" is {"bin", "x"}). Refuses absolute paths, "..", NULs and
// over-long names.
absl::StatusOr<std::vector<std::string>> Components(absl::string_view member, absl::string_view path,
                                                    absl::string_view what) {
  if (path.empty()) return Refuse(member, absl::StrCat(what, " is empty"));
  if (path.size() > kMaxTarPathBytes) {
    return Refuse(member, absl::StrCat(what, " is ", path.size(), " bytes, over ", kMaxTarPathBytes));
  }
  if (path.find('\0') != absl::string_view::npos) return Refuse(member, absl::StrCat(what, " holds a NUL byte"));
  if (path.front() == '/') return Refuse(member, absl::StrCat(what, " is absolute"));
  std::vector<std::string> out;
  for (absl::string_view c : absl::StrSplit(path, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") return Refuse(member, absl::StrCat(what, " goes up with \"..\""));
    if (c.size() > kMaxTarComponentBytes) {
      return Refuse(member, absl::StrCat(what, " has a name of ", c.size(), " bytes, over ", kMaxTarComponentBytes));
    }
    out.emplace_back(c);
  }
  return out;
}

// A symlink at `link` (components) pointing at `target` stays inside when
// the target is relative and every ".." comes first and climbs no higher
// than the link's own directory. A ".." after a name is refused even when it
// would cancel out lexically: that name may itself be a symlink, whose ".."
// the kernel resolves from where the symlink points, not from where it is.
absl::Status CheckSymlinkTarget(absl::string_view member, const std::vector<std::string>& link,
                                absl::string_view target) {
  if (target.empty()) return Refuse(member, "symlink target is empty");
  if (target.size() > kMaxTarPathBytes) {
    return Refuse(member, absl::StrCat("symlink target is ", target.size(), " bytes, over ", kMaxTarPathBytes));
  }
  if (target.find('\0') != absl::string_view::npos) return Refuse(member, "symlink target holds a NUL byte");
  if (target.front() == '/') {
    return Refuse(member, absl::StrCat("symlink to the absolute path \"", absl::CEscape(target),
                                       "\" leaves the version directory"));
  }
  const size_t depth = link.size() - 1;  // directories above the link, inside
  size_t ups = 0;
  bool named = false;
  for (absl::string_view c : absl::StrSplit(target, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (named) {
        return Refuse(member, absl::StrCat("symlink target \"", absl::CEscape(target),
                                           "\" has \"..\" after a name; only leading \"..\" are allowed"));
      }
      if (++ups > depth) {
        return Refuse(member, absl::StrCat("symlink target \"", absl::CEscape(target),
                                           "\" leaves the version directory"));
      }
      continue;
    }
    named = true;
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view TarMemberTypeName(TarMemberType type) {
  switch (type) {
    case TarMemberType::kRegular: return "regular file";
    case TarMemberType::kDirectory: return "directory";
    case TarMemberType::kSymlink: return "symlink";
    case TarMemberType::kHardlink: return "hard link";
    case TarMemberType::kCharDevice: return "character device";
    case TarMemberType::kBlockDevice: return "block device";
    case TarMemberType::kFifo: return "FIFO";
    case TarMemberType::kSocket: return "socket";
    case TarMemberType::kOther: break;
  }
  return "unknown member type";
}

absl::StatusOr<CheckedTarMember> CheckTarMember(const TarMember& member) {
  switch (member.type) {
    case TarMemberType::kRegular:
    case TarMemberType::kDirectory:
    case TarMemberType::kSymlink:
    case TarMemberType::kHardlink:
      break;
    default:
      return Refuse(member.path, absl::StrCat("is a ", TarMemberTypeName(member.type),
                                              "; only regular files, directories and symlinks are unpacked"));
  }
  absl::StatusOr<std::vector<std::string>> components = Components(member.path, member.path, "path");
  if (!components.ok()) return components.status();
  CheckedTarMember out;
  out.type = member.type;
  out.components = *std::move(components);
  out.mode = member.mode & kTarModeMask;
  if (member.size < 0) return Refuse(member.path, absl::StrCat("has a negative size ", member.size));
  if (out.components.empty() && member.type != TarMemberType::kDirectory) {
    return Refuse(member.path, absl::StrCat("a ", TarMemberTypeName(member.type), " cannot be the top directory"));
  }
  switch (member.type) {
    case TarMemberType::kRegular:
      out.size = member.size;
      break;
    case TarMemberType::kSymlink:
      if (absl::Status s = CheckSymlinkTarget(member.path, out.components, member.link_target); !s.ok()) return s;
      out.symlink_target = member.link_target;
      break;
    case TarMemberType::kHardlink: {
      absl::StatusOr<std::vector<std::string>> target =
          Components(member.path, member.link_target, "hard link target");
      if (!target.ok()) return target.status();
      if (target->empty()) return Refuse(member.path, "hard link to the top directory");
      out.hardlink_components = *std::move(target);
      break;
    }
    default:
      break;
  }
  return out;
}

absl::Status TarBudget::Add(absl::string_view path, int64_t size) {
  if (++members_ > limits_.max_members) {
    return absl::ResourceExhaustedError(absl::StrCat("tarball has more than ", limits_.max_members,
                                                     " members (agent.tarball.max_files) at \"", absl::CEscape(path),
                                                     "\"; refusing it"));
  }
  if (size < 0 || size > limits_.max_bytes - bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat("tarball unpacks to more than ", limits_.max_bytes,
                                                     " bytes (agent.tarball.max_unpacked_bytes) at \"",
                                                     absl::CEscape(path), "\" (", size,
                                                     " bytes); refusing it"));
  }
  bytes_ += size;
  return absl::OkStatus();
}

}  // namespace drover::updater
