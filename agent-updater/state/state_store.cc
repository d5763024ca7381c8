#include "agent-updater/state/state_store.h"

#include <random>

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <google/protobuf/text_format.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/atomic_file.h"
#include "common/log.h"

namespace drover::updater {
namespace {

absl::Status MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0700) == 0 || errno == EEXIST) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("cannot create state directory ", path, ": ", std::strerror(errno)));
}

}  // namespace

absl::Status StateStore::Init() {
  if (dir_.empty()) return absl::InvalidArgumentError("state_dir is empty");
  // mkdir -p
  for (size_t pos = 1; pos != std::string::npos;) {
    pos = dir_.find('/', pos + 1);
    if (absl::Status s = MakeDir(dir_.substr(0, pos)); !s.ok()) return s;
  }
  if (absl::Status s = MakeDir(dir_ + "/outbox"); !s.ok()) return s;
  return MakeDir(dir_ + "/outbox/rejected");
}

std::string NewInstanceId() {
  // random_device reads the kernel's CSPRNG: clones booted from one image
  // still draw different ids.
  std::random_device rd;
  std::string out;
  for (int i = 0; i < 4; ++i) absl::StrAppend(&out, absl::Hex(rd(), absl::kZeroPad8));
  return out;
}

absl::StatusOr<UpdaterState> StateStore::Load(std::string* warning) {
  absl::StatusOr<UpdaterState> state = LoadFile(warning);
  if (!state.ok()) return state;
  // Made once per state directory and machine: kept from the next Save on.
  absl::StatusOr<std::string> machine = ReadFile(machine_id_path_);
  const std::string machine_id =
      machine.ok() ? std::string(absl::StripAsciiWhitespace(*machine)) : std::string();
  if (!machine_id.empty()) {
    if (!state->machine_id().empty() && state->machine_id() != machine_id && !state->instance_id().empty()) {
      const std::string fresh = NewInstanceId();
      LogWarning(absl::StrCat("state directory ", dir_, " was recorded on machine id ", state->machine_id(),
                              ", this host's (", machine_id_path_, ") is ", machine_id,
                              ": copied from another host (golden image?); new instance id ", fresh,
                              " replaces ", state->instance_id()));
      state->set_instance_id(fresh);
    }
    state->set_machine_id(machine_id);
  }
  if (state->instance_id().empty()) state->set_instance_id(NewInstanceId());
  return state;
}

absl::StatusOr<UpdaterState> StateStore::LoadFile(std::string* warning) {
  const std::string path = dir_ + "/state.txtpb";
  absl::StatusOr<std::string> text = ReadFile(path);
  if (absl::IsNotFound(text.status())) return UpdaterState();
  if (!text.ok()) return text.status();
  UpdaterState state;
  if (!google::protobuf::TextFormat::ParseFromString(*text, &state)) {
    rename(path.c_str(), (path + ".damaged").c_str());
    if (warning) *warning = absl::StrCat(path, " was damaged; moved to ", path, ".damaged and started afresh");
    return UpdaterState();
  }
  return state;
}

absl::Status StateStore::Save(const UpdaterState& state) {
  std::string text;
  google::protobuf::TextFormat::PrintToString(state, &text);
  return WriteFileAtomically(dir_ + "/state.txtpb", text, 0600);
}

absl::Status StateStore::AddOutcome(const v1::UpdateOutcome& outcome) {
  // Named after the outcome itself, so queuing it again overwrites rather than
  // duplicates; names sort by start time.
  const std::string name = absl::StrCat("outcome-", absl::Dec(outcome.start_time().seconds(), absl::kZeroPad12), "-",
                                        absl::Dec(outcome.start_time().nanos(), absl::kZeroPad9), "-",
                                        outcome.result(), ".pb");
  return WriteFileAtomically(absl::StrCat(dir_, "/outbox/", name), outcome.SerializeAsString(), 0600);
}

absl::StatusOr<std::vector<std::pair<std::string, v1::UpdateOutcome>>> StateStore::QueuedOutcomes() {
  const std::string outbox = dir_ + "/outbox";
  DIR* d = opendir(outbox.c_str());
  if (d == nullptr) return absl::InternalError(absl::StrCat("cannot read ", outbox, ": ", std::strerror(errno)));
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (absl::StartsWith(name, "outcome-") && absl::EndsWith(name, ".pb")) names.push_back(name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  std::vector<std::pair<std::string, v1::UpdateOutcome>> out;
  for (const std::string& name : names) {
    absl::StatusOr<std::string> bytes = ReadFile(absl::StrCat(outbox, "/", name));
    if (!bytes.ok()) return bytes.status();
    v1::UpdateOutcome o;
    if (!o.ParseFromString(*bytes)) {
      // Written atomically, so only outside interference damages one: keep it
      // aside rather than lose or resend garbage.
      rename(absl::StrCat(outbox, "/", name).c_str(), absl::StrCat(outbox, "/", name, ".damaged").c_str());
      continue;
    }
    out.emplace_back(name, std::move(o));
  }
  return out;
}

absl::Status StateStore::RemoveQueued(const std::vector<std::string>& names) {
  for (const std::string& name : names) {
    const std::string path = absl::StrCat(dir_, "/outbox/", name);
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
      return absl::InternalError(absl::StrCat("cannot remove ", path, ": ", std::strerror(errno)));
    }
  }
  return SyncDirectory(dir_ + "/outbox");
}

absl::StatusOr<std::optional<PendingReport>> StateStore::LoadPendingReport() {
  absl::StatusOr<std::string> bytes = ReadFile(dir_ + "/outbox/report.pb");
  if (absl::IsNotFound(bytes.status())) return std::optional<PendingReport>();
  if (!bytes.ok()) return bytes.status();
  PendingReport r;
  if (!r.ParseFromString(*bytes)) {
    return absl::DataLossError(absl::StrCat(dir_, "/outbox/report.pb is damaged"));
  }
  return std::optional<PendingReport>(std::move(r));
}

absl::Status StateStore::SavePendingReport(const PendingReport& report) {
  return WriteFileAtomically(dir_ + "/outbox/report.pb", report.SerializeAsString(), 0600);
}

absl::Status StateStore::ClearPendingReport() {
  const std::string path = dir_ + "/outbox/report.pb";
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return absl::InternalError(absl::StrCat("cannot remove ", path, ": ", std::strerror(errno)));
  }
  return SyncDirectory(dir_ + "/outbox");
}

absl::Status StateStore::RejectPendingReport(const PendingReport& report, const std::string& reason) {
  const std::string rejected = dir_ + "/outbox/rejected";
  if (absl::Status s = MakeDir(rejected); !s.ok()) return s;
  const std::string base =
      absl::StrCat(rejected, "/report-", absl::Dec(report.request().sequence(), absl::kZeroPad20));
  if (absl::Status s = WriteFileAtomically(base + ".txt", reason + "\n", 0600); !s.ok()) return s;
  if (absl::Status s = WriteFileAtomically(base + ".pb", report.SerializeAsString(), 0600); !s.ok()) return s;
  if (absl::Status s = ClearPendingReport(); !s.ok()) return s;
  // Bounded: a host whose every report is refused must not fill its disk.
  std::vector<std::string> names;
  if (DIR* d = opendir(rejected.c_str()); d != nullptr) {
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (absl::StartsWith(name, "report-") && absl::EndsWith(name, ".pb")) names.push_back(name);
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  for (size_t i = 0; i + kRejectedReportsKept < names.size(); ++i) {
    const std::string path = absl::StrCat(rejected, "/", names[i]);
    LogWarning(absl::StrCat("dropping the oldest rejected report ", path, " (keeping the newest ",
                            kRejectedReportsKept, ")"));
    unlink(path.c_str());
    unlink(absl::StrCat(path.substr(0, path.size() - 3), ".txt").c_str());
  }
  return absl::OkStatus();
}

absl::StatusOr<PassLock> PassLock::Acquire(const std::string& state_dir, bool wait) {
  const std::string path = state_dir + "/lock";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
    if (errno == EINTR) continue;
    const int e = errno;
    close(fd);
    if (e == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("another drover-updater pass holds ", path, "; not running two at once"));
    }
    return absl::InternalError(absl::StrCat("cannot lock ", path, ": ", std::strerror(e)));
  }
  return PassLock(fd);
}

PassLock::~PassLock() {
  if (fd_ >= 0) close(fd_);
}

}  // namespace drover::updater
