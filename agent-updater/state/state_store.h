// The updater's state directory: state.txtpb (written atomically), the
// outbox of undelivered outcomes and reports, and the pass lock.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "drover/updater/state/v1/state.pb.h"

namespace drover::updater {

// The messages of the state directory (drover/updater/state/v1/state.proto).
using ::drover::updater::state::v1::CachedTarget;
using ::drover::updater::state::v1::PendingReport;
using ::drover::updater::state::v1::UpdateInProgress;
using ::drover::updater::state::v1::UpdaterState;

class StateStore {
 public:
  // `machine_id_path` is the host's machine id (/etc/machine-id; tests use
  // their own file).
  explicit StateStore(std::string dir, std::string machine_id_path = "/etc/machine-id")
      : dir_(std::move(dir)), machine_id_path_(std::move(machine_id_path)) {}

  // Creates the directory tree (mode 0700).
  absl::Status Init();
  const std::string& dir() const { return dir_; }

  // An empty state when there is none yet. A damaged file is moved aside
  // (state.txtpb.damaged) and an empty state returned, so the updater keeps
  // working; the returned warning says so. A state without an instance id
  // gets a new random one (saved with the state), and so does one recorded
  // on another machine id (the state directory was cloned); the machine id
  // is recorded beside it. No machine id file: no check.
  absl::StatusOr<UpdaterState> Load(std::string* warning = nullptr);
  absl::Status Save(const UpdaterState& state);

  // --- Outbox ---
  absl::Status AddOutcome(const v1::UpdateOutcome& outcome);
  // Queued outcomes, oldest first, with their file names.
  absl::StatusOr<std::vector<std::pair<std::string, v1::UpdateOutcome>>> QueuedOutcomes();
  absl::Status RemoveQueued(const std::vector<std::string>& names);
  absl::StatusOr<std::optional<PendingReport>> LoadPendingReport();
  absl::Status SavePendingReport(const PendingReport& report);
  absl::Status ClearPendingReport();
  // Moves the pending report, which the coordinator refused, out of the way
  // of later ones: to outbox/rejected/report-<sequence>.pb with the reason
  // beside it (.txt), for a person to look at. Only the newest
  // kRejectedReportsKept are kept there.
  absl::Status RejectPendingReport(const PendingReport& report, const std::string& reason);
  static constexpr int kRejectedReportsKept = 10;

 private:
  absl::StatusOr<UpdaterState> LoadFile(std::string* warning);

  std::string dir_;
  std::string machine_id_path_;
};

// 32 random hex digits.
std::string NewInstanceId();

// Holds an exclusive flock on <state_dir>/lock for its lifetime, so two
// passes never run at once on a host.
class PassLock {
 public:
  // FailedPrecondition when another process holds it (and !wait).
  static absl::StatusOr<PassLock> Acquire(const std::string& state_dir, bool wait);
  PassLock(PassLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  PassLock& operator=(PassLock&&) = delete;
  ~PassLock();

 private:
  explicit PassLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace drover::updater
