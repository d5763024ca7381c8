// One pass of the updater: fetch the target, decide with the triggers,
// install, restart, watch health, roll back if needed, and report. The daemon
// and `drover-updater once` both call RunPass.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent-updater/health/health_check.h"
#include "agent-updater/install/installer.h"
#include "agent-updater/state/state_store.h"
#include "agent-updater/target/coordinator_client.h"
#include "agent-updater/triggers/decision.h"
#include "common/api_limits.h"
#include "common/clock.h"
#include "drover/v1/updater_config.pb.h"
#include "common/trust/metadata.h"

namespace drover::updater {

inline constexpr char kUpdaterVersion[] = "0.1.0";

// Whether this updater may change the agent, as its operator set it (the
// Kubernetes updater's --report_only and drover/update-mode annotation).
struct UpdatePolicy {
  enum class Mode { kEnabled, kReportOnly, kDisabled };
  Mode mode = Mode::kEnabled;
  // Who said so ("annotation drover/update-mode=report-only").
  std::string source;
};

struct UpdaterDeps {
  CoordinatorClient* coordinator = nullptr;
  Installer* installer = nullptr;
  HealthCheck* health = nullptr;
  StateStore* state = nullptr;
  const Clock* clock = nullptr;
  // Restarts the agent (runs agent.restart_command).
  std::function<absl::Status()> restart;
  // Pauses between health checks while watching a restarted agent.
  std::function<void(absl::Duration)> pause;
  // The pinned root key: answers are acted on only once verified against it
  // (trust/metadata.h). nullopt: unsigned answers are taken as they come
  // (insecure_unsigned_targets, test setups only).
  std::optional<trust::TrustedRoot> pinned_root;
  // Read once per pass, after the decision; unset: always enabled. Report
  // only: the pass decides and reports, and says what it would have done.
  // Disabled: it reports and does nothing else.
  std::function<UpdatePolicy()> policy;
};

struct PassResult {
  Decision decision;
  bool coordinator_reachable = false;
  // All reports and outcomes delivered.
  bool delivered = false;
  std::optional<v1::UpdateOutcome> outcome;
  // Empty, or what went wrong with the coordinator and what to do about it.
  std::string coordinator_problem;
  // When to run the next pass (the channel's poll interval, or the config's).
  absl::Duration poll_interval = kDefaultPollInterval;
  // When the coordinator told this host to come back (Sync), at least the
  // configured poll_interval, within [kMinPollInterval, kMaxPollInterval];
  // zero when it told nothing (an older coordinator, or no answer): then
  // poll_interval.
  absl::Duration next_sync = absl::ZeroDuration();
  // The answer tag (common/answer_tag.h) of the coordinator's answer this
  // pass acted on; empty when it has none. The daemon's watch poll names it.
  std::string answer_tag;
  // The pass reported and fetched its target with Sync (one round trip);
  // false when the coordinator does not know Sync, or was not reached.
  bool synced = false;
  // One line: decision, outcome, coordinator, report; logged at
  // summary_level ("INFO", "WARN" or "ERROR").
  std::string summary;
  std::string summary_level = "INFO";
  // The coordinator's signed answer had expired (or its delegation had):
  // frozen on the last valid one, updating only to repair an unhealthy agent.
  bool metadata_expired = false;
  // The coordinator's answer was refused (bad or missing signature, another
  // channel, an older version): nothing in it was acted on.
  bool metadata_refused = false;
};

class Updater {
 public:
  Updater(v1::UpdaterConfig config, UpdaterDeps deps);

  // Never throws; a non-OK status means the pass could not run at all
  // (state directory unusable).
  absl::StatusOr<PassResult> RunPass();

  // Human-readable: installed, target, window, health, last outcome, outbox.
  std::string StatusText();

 private:
  struct Health {
    bool healthy = false;
    std::string reason;
    // The check said it will not get better by waiting (HealthCheck: Aborted).
    bool final = false;
  };

  Health CheckHealth();
  // Waits up to `grace` for the agent to become healthy, then requires it to
  // stay healthy for `watch`.
  Health WatchHealth(absl::Duration grace, absl::Duration watch);
  // Installs, restarts, watches; rolls back when unhealthy.
  v1::UpdateOutcome Update(const std::optional<std::string>& from, const std::string& to, UpdaterState& state);
  // Finishes or undoes an update the previous pass was killed in.
  std::optional<v1::UpdateOutcome> Recover(UpdaterState& state);
  v1::UpdateOutcome RollBack(const std::string& from, const std::string& to, const std::string& why,
                             absl::Time started, UpdaterState& state);
  std::optional<Schedule> LoadSchedule(const UpdaterState& state, std::string* note);
  // Sends the pending report and queued outcomes, then a fresh status. With
  // `updating_to`, the fresh status says the host is installing it (sent
  // just before an install); without, a pending report that said so is sent
  // without it: the install it announced is over.
  //
  // With `sync`, the first report sent goes by Sync and brings back the
  // target named by `sync->request` (by GetTarget and ReportStatus when the
  // coordinator does not know Sync). A fresh status the same as one this
  // pass already had acknowledged is not sent again.
  struct SyncCall {
    v1::GetTargetRequest request;
    bool done = false;  // the target was asked for
    absl::StatusOr<v1::GetTargetResponse> target = absl::UnknownError("not asked");
    absl::Duration next_sync = absl::ZeroDuration();
    bool synced = false;  // by Sync itself
  };
  absl::Status Deliver(UpdaterState& state, const std::optional<std::string>& installed, bool healthy,
                       const std::string& updating_to = "", SyncCall* sync = nullptr);
  // One report, through `sync` when it is still to be made.
  absl::StatusOr<v1::ReportStatusResponse> Send(const v1::ReportStatusRequest& request, SyncCall* sync);
  // Forgets the acknowledged sequence, on disk at once: a report that was
  // (maybe) sent leaves the outbox unacknowledged.
  static absl::Status BreakChain(UpdaterState& state, StateStore& store);
  int64_t NextSequence(UpdaterState& state);
  // Saves `outcome` as the last outcome, then queues it in the outbox.
  absl::Status RecordOutcome(UpdaterState& state, const v1::UpdateOutcome& outcome);
  // A failed install parks its version until a growing delay has passed;
  // only the first failure per version is queued for the coordinator.
  absl::Status ParkFailedInstall(UpdaterState& state, const v1::UpdateOutcome& outcome);
  // A finished (or recovered) update's outcome: parked when it failed,
  // recorded otherwise (clearing the failed-install mark it ends).
  absl::Status RecordUpdateOutcome(UpdaterState& state, const v1::UpdateOutcome& outcome);
  static void ClearFailedInstall(UpdaterState& state);
  // Checks a fresh answer against the pinned root and the state's highest
  // version; returns an answer made of the signed payload alone. The
  // coordinator's per-host target_version is accepted only when the signed
  // payload names it for the rollout's mode (see AnswerForHost in the .cc).
  absl::StatusOr<v1::GetTargetResponse> Authenticate(const v1::GetTargetResponse& answer, UpdaterState& state);
  // Tells the installer `version` ran healthy (it keeps it as the last good).
  void MarkGood(const std::string& version);

  const v1::UpdaterConfig config_;
  UpdaterDeps deps_;
  // The coordinator answered Sync with UNIMPLEMENTED in this pass.
  bool sync_unimplemented_ = false;
  // The last fresh status this pass had acknowledged (sequence and
  // previous_sequence cleared): the same status is not sent twice.
  std::optional<v1::ReportStatusRequest> acknowledged_status_;
};

}  // namespace drover::updater
