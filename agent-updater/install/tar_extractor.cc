#include "agent-updater/install/tar_extractor.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/log.h"

namespace drover::updater {
namespace {

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) close(fd_);
      fd_ = other.fd_;
      other.fd_ = -1;
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string Joined(const std::vector<std::string>& components) { return absl::StrJoin(components, "/"); }

absl::Status IoError(absl::string_view what, const std::string& dest, const std::vector<std::string>& components) {
  const int e = errno;
  return absl::InternalError(
      absl::StrCat("unpacking into ", dest, ": ", what, " ", absl::CEscape(Joined(components)), ": ", std::strerror(e)));
}

// Opens the directory that holds the last of `components` (all but the last
// walked from `root` without following symlinks). With `create`, missing
// directories are made (0755).
absl::StatusOr<Fd> OpenParent(int root, const std::vector<std::string>& components, bool create,
                              const std::string& dest) {
  Fd current(fcntl(root, F_DUPFD_CLOEXEC, 0));
  if (current.get() < 0) return IoError("dup", dest, components);
  for (size_t i = 0; i + 1 < components.size(); ++i) {
    const std::string& c = components[i];
    int fd = openat(current.get(), c.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
      if (mkdirat(current.get(), c.c_str(), 0755) != 0 && errno != EEXIST) return IoError("mkdir", dest, components);
      fd = openat(current.get(), c.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
      if (errno == ELOOP || errno == ENOTDIR) {
        return absl::PermissionDeniedError(absl::StrCat(
            "tarball member \"", absl::CEscape(Joined(components)), "\": \"",
            absl::CEscape(absl::StrJoin(components.begin(), components.begin() + i + 1, "/")),
            "\" is not a directory (a symlink or file from an earlier member); nothing is unpacked through it"));
      }
      return IoError("open", dest, components);
    }
    current = Fd(fd);
  }
  return current;
}

absl::Status WriteAll(int fd, const char* data, size_t size, const std::string& dest,
                      const std::vector<std::string>& components) {
  while (size > 0) {
    const ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IoError("write", dest, components);
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

TarMemberType TypeOf(archive_entry* entry) {
  if (archive_entry_hardlink(entry) != nullptr) return TarMemberType::kHardlink;
  switch (archive_entry_filetype(entry)) {
    case AE_IFREG: return TarMemberType::kRegular;
    case AE_IFDIR: return TarMemberType::kDirectory;
    case AE_IFLNK: return TarMemberType::kSymlink;
    case AE_IFCHR: return TarMemberType::kCharDevice;
    case AE_IFBLK: return TarMemberType::kBlockDevice;
    case AE_IFIFO: return TarMemberType::kFifo;
    case AE_IFSOCK: return TarMemberType::kSocket;
    default: return TarMemberType::kOther;
  }
}

absl::Status Damaged(archive* a, absl::string_view when) {
  const char* err = archive_error_string(a);
  return absl::FailedPreconditionError(
      absl::StrCat("tarball is damaged or not a gzip-compressed tar archive (", when, "): ",
                   err != nullptr ? err : "unknown libarchive error"));
}

class Extraction {
 public:
  Extraction(archive* a, int root, const std::string& dest) : a_(a), root_(root), dest_(dest) {}

  absl::Status Unpack(const CheckedTarMember& m) {
    if (m.components.empty()) return absl::OkStatus();  // "./": the version directory itself
    absl::StatusOr<Fd> parent = OpenParent(root_, m.components, /*create=*/true, dest_);
    if (!parent.ok()) return parent.status();
    const char* leaf = m.components.back().c_str();
    switch (m.type) {
      case TarMemberType::kRegular:
        return UnpackFile(parent->get(), leaf, m);
      case TarMemberType::kDirectory: {
        if (mkdirat(parent->get(), leaf, 0700) != 0 && errno != EEXIST) return IoError("mkdir", dest_, m.components);
        Fd dir(openat(parent->get(), leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (dir.get() < 0) return Duplicate(m);
        if (fchmod(dir.get(), m.mode) != 0) return IoError("chmod", dest_, m.components);
        return absl::OkStatus();
      }
      case TarMemberType::kSymlink:
        if (symlinkat(m.symlink_target.c_str(), parent->get(), leaf) != 0) {
          return errno == EEXIST ? Duplicate(m) : IoError("symlink", dest_, m.components);
        }
        return absl::OkStatus();
      case TarMemberType::kHardlink:
        return UnpackHardlink(parent->get(), leaf, m);
      default:
        // CheckTarMember let through only the types above.
        return absl::InternalError(absl::StrCat("unexpected member type ", TarMemberTypeName(m.type)));
    }
  }

 private:
  absl::Status Duplicate(const CheckedTarMember& m) {
    return absl::PermissionDeniedError(absl::StrCat("tarball member \"", absl::CEscape(Joined(m.components)),
                                                    "\" is already there (the archive names it twice, or as "
                                                    "another type); refusing to replace it"));
  }

  absl::Status UnpackFile(int parent, const char* leaf, const CheckedTarMember& m) {
    Fd out(openat(parent, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (out.get() < 0) return errno == EEXIST ? Duplicate(m) : IoError("create", dest_, m.components);
    std::vector<char> buf(1 << 16);
    int64_t written = 0;
    for (;;) {
      const la_ssize_t n = archive_read_data(a_, buf.data(), buf.size());
      if (n < 0) return Damaged(a_, absl::StrCat("reading ", Joined(m.components)));
      if (n == 0) break;
      written += n;
      // The header's size was counted against the budget; never write more.
      if (written > m.size) {
        return absl::FailedPreconditionError(absl::StrCat("tarball member \"", absl::CEscape(Joined(m.components)),
                                                          "\" holds more data than its header says (", m.size,
                                                          " bytes)"));
      }
      if (absl::Status s = WriteAll(out.get(), buf.data(), static_cast<size_t>(n), dest_, m.components); !s.ok()) {
        return s;
      }
    }
    if (written != m.size) {
      return absl::FailedPreconditionError(absl::StrCat("tarball member \"", absl::CEscape(Joined(m.components)),
                                                        "\" is truncated: ", written, " of ", m.size, " bytes"));
    }
    if (fchmod(out.get(), m.mode) != 0) return IoError("chmod", dest_, m.components);
    return absl::OkStatus();
  }

  absl::Status UnpackHardlink(int parent, const char* leaf, const CheckedTarMember& m) {
    absl::StatusOr<Fd> target_parent = OpenParent(root_, m.hardlink_components, /*create=*/false, dest_);
    if (!target_parent.ok()) {
      if (absl::IsPermissionDenied(target_parent.status())) return target_parent.status();
      return absl::PermissionDeniedError(absl::StrCat("tarball member \"", absl::CEscape(Joined(m.components)),
                                                      "\": hard link to \"",
                                                      absl::CEscape(Joined(m.hardlink_components)),
                                                      "\", which is not a file unpacked before it"));
    }
    const char* target_leaf = m.hardlink_components.back().c_str();
    struct stat st{};
    if (fstatat(target_parent->get(), target_leaf, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
      return absl::PermissionDeniedError(absl::StrCat("tarball member \"", absl::CEscape(Joined(m.components)),
                                                      "\": hard link to \"",
                                                      absl::CEscape(Joined(m.hardlink_components)),
                                                      "\", which is not a regular file unpacked before it"));
    }
    if (linkat(target_parent->get(), target_leaf, parent, leaf, 0) != 0) {
      return errno == EEXIST ? Duplicate(m) : IoError("link", dest_, m.components);
    }
    return absl::OkStatus();
  }

  archive* a_;
  int root_;
  const std::string& dest_;
};

}  // namespace

absl::Status ExtractTarGz(int archive_fd, int dest_dir_fd, const std::string& dest, const TarLimits& limits) {
  std::unique_ptr<archive, decltype(&archive_read_free)> a(archive_read_new(), &archive_read_free);
  if (a == nullptr) return absl::InternalError("archive_read_new failed");
  // Only what the release tooling makes: tar (ustar, pax, GNU) in gzip.
  if (archive_read_support_filter_gzip(a.get()) != ARCHIVE_OK ||
      archive_read_support_format_tar(a.get()) != ARCHIVE_OK) {
    return absl::InternalError(absl::StrCat("libarchive without gzip/tar support: ", archive_error_string(a.get())));
  }
  if (archive_read_open_fd(a.get(), archive_fd, 1 << 16) != ARCHIVE_OK) return Damaged(a.get(), "opening");

  TarBudget budget(limits);
  Extraction extraction(a.get(), dest_dir_fd, dest);
  for (;;) {
    archive_entry* entry = nullptr;
    const int r = archive_read_next_header(a.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r == ARCHIVE_WARN) {
      LogWarning(absl::StrCat("tarball: libarchive: ", archive_error_string(a.get())));
    } else if (r != ARCHIVE_OK) {
      return Damaged(a.get(), absl::StrCat("after ", budget.members(), " members"));
    }
    TarMember member;
    member.type = TypeOf(entry);
    const char* path = archive_entry_pathname(entry);
    member.path = path != nullptr ? path : "";
    const char* target = member.type == TarMemberType::kHardlink ? archive_entry_hardlink(entry)
                                                                 : archive_entry_symlink(entry);
    member.link_target = target != nullptr ? target : "";
    member.mode = static_cast<uint32_t>(archive_entry_perm(entry));
    member.size = archive_entry_size(entry);
    if (archive_entry_sparse_count(entry) > 0) {
      return absl::PermissionDeniedError(
          absl::StrCat("tarball member \"", absl::CEscape(member.path), "\" is a sparse file; refusing it"));
    }
    absl::StatusOr<CheckedTarMember> checked = CheckTarMember(member);
    if (!checked.ok()) return checked.status();
    if (checked->mode != member.mode) {
      LogInfo(absl::StrCat("tarball: \"", absl::CEscape(member.path), "\" mode ", absl::StrFormat("%04o", member.mode),
                           " unpacked as ", absl::StrFormat("%04o", checked->mode),
                           " (no setuid, setgid, sticky or group/other write)"));
    }
    if (absl::Status s = budget.Add(member.path, checked->size); !s.ok()) return s;
    if (absl::Status s = extraction.Unpack(*checked); !s.ok()) return s;
  }
  if (budget.members() == 0) return absl::FailedPreconditionError("tarball is empty (no members)");
  return absl::OkStatus();
}

}  // namespace drover::updater
