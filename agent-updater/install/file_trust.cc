#include "agent-updater/install/file_trust.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace drover::updater {

bool TrustedOwner(uid_t uid) { return uid == 0 || uid == geteuid(); }

absl::Status CheckTrustedFile(const std::string& path, absl::string_view what) {
  struct stat st{};
  if (stat(path.c_str(), &st) != 0) {
    const int e = errno;
    std::string msg = absl::StrCat(what, " ", path, ": ", std::strerror(e));
    return e == ENOENT ? absl::NotFoundError(msg) : absl::FailedPreconditionError(msg);
  }
  if (!S_ISREG(st.st_mode)) return absl::FailedPreconditionError(absl::StrCat(what, " ", path, " is not a file"));
  if (!TrustedOwner(st.st_uid)) {
    return absl::FailedPreconditionError(absl::StrCat(what, " ", path, " is owned by uid ", st.st_uid,
                                                      ", not root; whoever owns it decides what is trusted "
                                                      "(chown root ", path, ")"));
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s %s is writable by group or others (mode %04o); anyone who can change it decides what is trusted "
        "(chmod go-w %s)",
        what, path, st.st_mode & 07777, path));
  }
  return absl::OkStatus();
}

}  // namespace drover::updater
