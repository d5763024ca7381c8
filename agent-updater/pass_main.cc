// drover-updater-pass: one pass of the updater (and its status and clear
// commands): flags and config -> Updater. The logic is in updater.cc. The
// drover-updater front end runs it, once per pass when it is the daemon, so
// nothing of gRPC, protobuf or OpenSSL stays resident between passes.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "agent-updater/config.h"
#include "agent-updater/health/health_check_factory.h"
#include "agent-updater/triggers/schedule_state.h"
#include "agent-updater/install/installer_factory.h"
#include "agent-updater/state/state_store.h"
#include "agent-updater/daemon/pass_report.h"
#include "agent-updater/daemon/watch_client.h"
#include "agent-updater/target/coordinator_client.h"
#include "agent-updater/target/host_identity.h"
#include "agent-updater/updater.h"
#include "common/atomic_file.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/stop_signals.h"
#include "common/subprocess.h"
#include "proto/wire/time.h"

ABSL_FLAG(std::string, config, "/etc/drover/updater.conf",
          "Config file (protobuf text format, or JSON when it ends in .json)");
ABSL_FLAG(std::string, coordinator, "", "Overrides config: coordinator host:port");
ABSL_FLAG(std::string, channel, "", "Overrides config: channel id, e.g. stable/cloud");
ABSL_FLAG(std::string, group, "", "Overrides config: rollout group");
ABSL_FLAG(std::string, host_id, "", "Overrides config: host id (default /etc/machine-id)");
ABSL_FLAG(std::string, state_dir, "", "Overrides config: state directory");
ABSL_FLAG(int, result_fd, -1,
          "once: also write the pass result, one line for the drover-updater daemon, to this file descriptor");
ABSL_FLAG(bool, wait_for_lock, false, "once: wait for a pass running elsewhere instead of exiting 3");

namespace {

// Exit codes, documented in the README.
constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr int kExitBusy = 3;

int Fail(int code, const std::string& message) {
  drover::LogError(message);
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "drover-updater-pass runs one pass of drover-updater (which runs it for you).\n"
      "Usage: drover-updater-pass once    run one pass and exit\n"
      "       drover-updater-pass status  print what it knows\n"
      "       drover-updater-pass clear   forget a rolled-back or failed version so it is tried again\n"
      "       drover-updater-pass check   validate the configuration and exit\n"
      "Exit codes: 0 ok, 1 failed, 2 bad usage or configuration, 3 another pass is running.");
  // A pass is never cut short by SIGTERM/SIGINT (the agent must not be left
  // half-installed): blocked before any thread exists (gRPC starts some). The
  // daemon stops between passes; SIGKILL is safe at any step.
  drover::BlockStopSignals();
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  // Nothing this pass starts (the agent, package tools) may hold the
  // daemon's pipe open after the pass exits.
  if (const int fd = absl::GetFlag(FLAGS_result_fd); fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
  if (args.size() != 2) return Fail(kExitUsage, "expected one command: once, status, clear or check (see --help)");
  const std::string command = args[1];
  if (command != "once" && command != "status" && command != "clear" && command != "check") {
    return Fail(kExitUsage,
                absl::StrCat("unknown command \"", command, "\": use once, status, clear or check"));
  }

  absl::StatusOr<drover::v1::UpdaterConfig> config = drover::updater::LoadConfigFile(absl::GetFlag(FLAGS_config));
  if (!config.ok()) return Fail(kExitUsage, std::string(config.status().message()));
  if (!absl::GetFlag(FLAGS_coordinator).empty()) config->set_coordinator(absl::GetFlag(FLAGS_coordinator));
  if (!absl::GetFlag(FLAGS_channel).empty()) config->set_channel(absl::GetFlag(FLAGS_channel));
  if (!absl::GetFlag(FLAGS_group).empty()) config->set_group(absl::GetFlag(FLAGS_group));
  if (!absl::GetFlag(FLAGS_host_id).empty()) config->set_host_id(absl::GetFlag(FLAGS_host_id));
  if (!absl::GetFlag(FLAGS_state_dir).empty()) config->set_state_dir(absl::GetFlag(FLAGS_state_dir));
  if (absl::Status s = drover::updater::CompleteConfig(*config); !s.ok()) return Fail(kExitUsage, std::string(s.message()));

  absl::StatusOr<std::unique_ptr<drover::updater::Installer>> installer =
      drover::updater::MakeInstaller(config->agent());
  if (!installer.ok()) return Fail(kExitUsage, std::string(installer.status().message()));
  absl::StatusOr<std::unique_ptr<drover::updater::HealthCheck>> health =
      drover::updater::MakeHealthCheck(config->agent().health_check());
  if (!health.ok()) return Fail(kExitUsage, std::string(health.status().message()));

  drover::updater::StateStore store(config->state_dir());
  if (absl::Status s = store.Init(); !s.ok()) return Fail(kExitFailed, std::string(s.message()));
  const absl::Duration rpc_timeout = drover::wire::DurationFromProtoOr(config->rpc_timeout(), absl::Seconds(10));
  std::unique_ptr<drover::updater::CoordinatorClient> coordinator;
  if (config->coordinator_ca_file().empty()) {
    coordinator = drover::updater::MakeGrpcCoordinatorClient(config->coordinator(), rpc_timeout);
  } else {
    // A pass enrols or renews first when it must; the other commands only
    // read, and server-authenticated TLS is enough for that.
    drover::updater::HostIdentityOptions identity_options{config->coordinator(), config->coordinator_ca_file(),
                                                          command == "once" ? config->join_token_file() : "",
                                                          config->state_dir(), config->host_id(), rpc_timeout,
                                                          command == "once"};
    absl::StatusOr<drover::updater::HostIdentity> identity =
        drover::updater::PrepareHostIdentity(identity_options, absl::Now());
    if (!identity.ok()) return Fail(kExitUsage, std::string(identity.status().message()));
    if (!identity->note.empty()) {
      if (identity->warning) {
        drover::LogWarning(absl::StrCat("host identity: ", identity->note));
      } else {
        drover::LogInfo(absl::StrCat("host identity: ", identity->note));
      }
    }
    coordinator = drover::updater::MakeGrpcCoordinatorClient(config->coordinator(), rpc_timeout, identity->tls);
  }
  drover::RealClock clock;


  drover::updater::UpdaterDeps deps;
  deps.coordinator = coordinator.get();
  deps.installer = installer->get();
  deps.health = health->get();
  deps.state = &store;
  deps.clock = &clock;
  const std::vector<std::string> restart(config->agent().restart_command().begin(),
                                         config->agent().restart_command().end());
  deps.restart = [restart]() -> absl::Status {
    absl::StatusOr<drover::CommandOutput> out = drover::RunCommand(restart, {.timeout = absl::Minutes(2)});
    if (!out.ok()) return out.status();
    if (out->exit_code != 0) {
      return absl::InternalError(absl::StrCat(drover::CommandLineForLog(restart), " exited ", out->exit_code,
                                              out->timed_out ? " (timed out)" : "", ": ", out->output));
    }
    return absl::OkStatus();
  };
  deps.pause = [](absl::Duration d) { absl::SleepFor(d); };
  // `status` and `clear` read only local state: they work without the key.
  if (!config->root_public_key_file().empty() && (command == "once" || command == "check")) {
    absl::StatusOr<std::string> pem = drover::ReadFile(config->root_public_key_file());
    if (!pem.ok()) {
      return Fail(kExitUsage, absl::StrCat("config root_public_key_file: ", pem.status().message()));
    }
    absl::StatusOr<drover::trust::TrustedRoot> root = drover::trust::TrustedRootFromPem(
        *pem, absl::StrCat("config root_public_key_file ", config->root_public_key_file()));
    if (!root.ok()) return Fail(kExitUsage, std::string(root.status().message()));
    deps.pinned_root = *std::move(root);
  }
  drover::updater::Updater updater(*config, deps);

  if (command == "check") {
    // Not fatal: without a usable schedule the updater still works (it
    // updates at once), but the operator most likely meant a window.
    if (std::optional<std::string> warning = drover::updater::ScheduleFileWarning(config->schedule_file(), clock.Now())) {
      std::fprintf(stderr, "drover-updater: warning: %s\n", warning->c_str());
    }
    return kExitOk;
  }
  if (command == "status") {
    std::fputs(updater.StatusText().c_str(), stdout);
    return kExitOk;
  }
  if (command == "clear") {
    absl::StatusOr<drover::updater::PassLock> lock = drover::updater::PassLock::Acquire(config->state_dir(), false);
    if (!lock.ok()) return Fail(kExitBusy, std::string(lock.status().message()));
    absl::StatusOr<drover::updater::UpdaterState> state = store.Load();
    if (!state.ok()) return Fail(kExitFailed, std::string(state.status().message()));
    const std::string was = state->rolled_back_version();
    const std::string failed = state->failed_version();
    state->clear_rolled_back_version();
    state->clear_rolled_back_reason();
    state->clear_failed_version();
    state->clear_failed_reason();
    state->clear_failed_attempts();
    state->clear_failed_retry_time();
    if (absl::Status s = store.Save(*state); !s.ok()) return Fail(kExitFailed, std::string(s.message()));
    if (was.empty() && failed.empty()) std::printf("nothing to clear\n");
    if (!was.empty()) std::printf("cleared roll-back mark of %s\n", was.c_str());
    if (!failed.empty()) std::printf("cleared failed-install mark of %s: it is tried at the next pass\n", failed.c_str());
    return kExitOk;
  }
  // once
  absl::StatusOr<drover::updater::PassLock> lock =
      drover::updater::PassLock::Acquire(config->state_dir(), absl::GetFlag(FLAGS_wait_for_lock));
  if (!lock.ok()) return Fail(kExitBusy, std::string(lock.status().message()));
  absl::StatusOr<drover::updater::PassResult> r = updater.RunPass();
  drover::updater::PassReport report;
  report.backoff_initial = drover::wire::DurationFromProtoOr(config->backoff_initial(), absl::Seconds(1));
  report.backoff_max = drover::updater::RetryCap(drover::wire::DurationFromProtoOr(config->backoff_max(), absl::ZeroDuration()),
                                                 r.ok() ? r->poll_interval : absl::ZeroDuration());
  if (r.ok()) {
    drover::Log(r->summary_level, absl::StrCat("pass: ", r->summary));
    report.ok = true;
    report.coordinator_reachable = r->coordinator_reachable;
    report.poll_interval = r->poll_interval;
    report.next_sync = r->next_sync;
    report.summary = r->summary;
    if (!config->watch().empty()) {
      report.watch = config->watch();
      report.answer_tag = r->answer_tag;
      report.watch_path = drover::updater::WatchPath(config->channel(), config->host_id(), config->group(),
                                                     r->answer_tag);
    }
  } else {
    drover::LogError(absl::StrCat("pass failed: ", r.status().message()));
    report.summary = absl::StrCat("pass failed: ", r.status().message());
  }
  if (const int fd = absl::GetFlag(FLAGS_result_fd); fd >= 0) {
    // Written once, at the end; closing it tells the daemon the pass is done.
    const std::string line = drover::updater::FormatPassReport(report);
    if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      drover::LogWarning(absl::StrCat("could not hand the pass result to the daemon on fd ", fd));
    }
    close(fd);
  }
  if (!r.ok()) return kExitFailed;
  const bool failed = r->outcome && r->outcome->result() != drover::v1::UPDATE_RESULT_SUCCEEDED;
  return failed ? kExitFailed : kExitOk;
}
