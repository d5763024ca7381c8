// drover-updater: flags and config -> Updater, the daemon loop, signals and
// systemd notification. The logic is in updater.cc.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent-updater/config.h"
#include "agent-updater/health/health_check_factory.h"
#include "agent-updater/install/installer_factory.h"
#include "agent-updater/state/state_store.h"
#include "agent-updater/target/coordinator_client.h"
#include "agent-updater/updater.h"
#include "common/backoff.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/subprocess.h"

ABSL_FLAG(std::string, config, "/etc/drover/updater.conf",
          "Config file (protobuf text format, or JSON when it ends in .json)");
ABSL_FLAG(std::string, coordinator, "", "Overrides config: coordinator host:port");
ABSL_FLAG(std::string, channel, "", "Overrides config: channel id, e.g. stable/cloud");
ABSL_FLAG(std::string, group, "", "Overrides config: rollout group");
ABSL_FLAG(std::string, host_id, "", "Overrides config: host id (default /etc/machine-id)");
ABSL_FLAG(std::string, state_dir, "", "Overrides config: state directory");

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

// sd_notify without libsystemd: one datagram to $NOTIFY_SOCKET.
void Notify(const std::string& message) {
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || *path == '\0') return;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = std::min(std::strlen(path), sizeof(addr.sun_path) - 1);
  std::memcpy(addr.sun_path, path, len);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract namespace
  sendto(fd, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
         static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
  close(fd);
}

absl::Duration FromProto(const google::protobuf::Duration& d, absl::Duration fallback) {
  if (d.seconds() == 0 && d.nanos() == 0) return fallback;
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "drover-updater keeps one agent on its channel's target version.\n"
      "Usage: drover-updater run     run as a daemon (systemd Type=notify)\n"
      "       drover-updater once    run one pass and exit (for a systemd timer)\n"
      "       drover-updater status  print what it knows\n"
      "       drover-updater clear   forget a rolled-back version so it is tried again\n"
      "Exit codes: 0 ok, 1 failed, 2 bad usage or configuration, 3 another pass is running.");
  // SIGTERM/SIGINT end the daemon between steps: blocked before any thread
  // exists (gRPC starts some), taken with sigtimedwait between passes.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() != 2) return Fail(kExitUsage, "expected one command: run, once, status or clear (see --help)");
  const std::string command = args[1];
  if (command != "run" && command != "once" && command != "status" && command != "clear") {
    return Fail(kExitUsage, absl::StrCat("unknown command \"", command, "\": use run, once, status or clear"));
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
  std::unique_ptr<drover::updater::CoordinatorClient> coordinator = drover::updater::MakeGrpcCoordinatorClient(
      config->coordinator(), FromProto(config->rpc_timeout(), absl::Seconds(10)));
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
  drover::updater::Updater updater(*config, deps);

  if (command == "status") {
    std::fputs(updater.StatusText().c_str(), stdout);
    return kExitOk;
  }
  if (command == "clear") {
    absl::StatusOr<drover::updater::PassLock> lock = drover::updater::PassLock::Acquire(config->state_dir(), false);
    if (!lock.ok()) return Fail(kExitBusy, std::string(lock.status().message()));
    absl::StatusOr<drover::v1::UpdaterState> state = store.Load();
    if (!state.ok()) return Fail(kExitFailed, std::string(state.status().message()));
    const std::string was = state->rolled_back_version();
    state->clear_rolled_back_version();
    state->clear_rolled_back_reason();
    if (absl::Status s = store.Save(*state); !s.ok()) return Fail(kExitFailed, std::string(s.message()));
    std::printf("%s\n", was.empty() ? "nothing to clear" : absl::StrCat("cleared roll-back mark of ", was).c_str());
    return kExitOk;
  }
  if (command == "once") {
    absl::StatusOr<drover::updater::PassLock> lock = drover::updater::PassLock::Acquire(config->state_dir(), false);
    if (!lock.ok()) return Fail(kExitBusy, std::string(lock.status().message()));
    absl::StatusOr<drover::updater::PassResult> r = updater.RunPass();
    if (!r.ok()) return Fail(kExitFailed, std::string(r.status().message()));
    drover::LogInfo(absl::StrCat("pass: ", r->summary));
    const bool failed = r->outcome && r->outcome->result() != drover::v1::UPDATE_RESULT_SUCCEEDED;
    return failed ? kExitFailed : kExitOk;
  }

  // The daemon.
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  drover::Backoff backoff(FromProto(config->backoff_initial(), absl::Seconds(1)),
                          FromProto(config->backoff_max(), absl::Minutes(5)), [&] { return unit(rng); });
  // The watchdog pings only while the loop makes progress, so a wedged pass
  // gets the daemon restarted.
  std::atomic<int64_t> progress_ns{absl::ToUnixNanos(absl::Now())};
  std::atomic<bool> stopping{false};
  std::thread watchdog;
  if (const char* usec = std::getenv("WATCHDOG_USEC"); usec != nullptr) {
    int64_t interval_us = 0;
    if (absl::SimpleAtoi(usec, &interval_us) && interval_us > 0) {
      watchdog = std::thread([&, interval_us] {
        const absl::Duration every = absl::Microseconds(interval_us / 2);
        while (!stopping) {
          absl::SleepFor(every);
          // A pass (install + health watch) may legitimately take a while.
          if (absl::Now() - absl::FromUnixNanos(progress_ns) < absl::Hours(1)) Notify("WATCHDOG=1");
        }
      });
    }
  }
  Notify("READY=1");
  drover::LogInfo(absl::StrCat("drover-updater ", drover::updater::kUpdaterVersion, " managing ",
                               config->agent().name(), " on channel ", config->channel(), " via ",
                               config->coordinator()));
  int exit_code = kExitOk;
  for (;;) {
    progress_ns = absl::ToUnixNanos(absl::Now());
    absl::Duration wait;
    {
      absl::StatusOr<drover::updater::PassLock> lock = drover::updater::PassLock::Acquire(config->state_dir(), true);
      if (!lock.ok()) {
        exit_code = Fail(kExitFailed, std::string(lock.status().message()));
        break;
      }
      absl::StatusOr<drover::updater::PassResult> r = updater.RunPass();
      if (!r.ok()) {
        drover::LogError(absl::StrCat("pass failed: ", r.status().message()));
        wait = backoff.Next();
      } else {
        drover::LogInfo(absl::StrCat("pass: ", r->summary));
        Notify(absl::StrCat("STATUS=", r->summary));
        if (r->coordinator_reachable) {
          backoff.Reset();
          // +-10% so that a fleet started together spreads out over time.
          wait = r->poll_interval * (0.9 + 0.2 * unit(rng));
        } else {
          wait = backoff.Next();
        }
      }
    }
    progress_ns = absl::ToUnixNanos(absl::Now());
    timespec ts{static_cast<time_t>(absl::ToInt64Seconds(wait)),
                static_cast<long>(absl::ToInt64Nanoseconds(wait % absl::Seconds(1)))};
    int sig = sigtimedwait(&stop_signals, nullptr, &ts);
    if (sig == SIGTERM || sig == SIGINT) {
      drover::LogInfo("stopping");
      break;
    }
  }
  Notify("STOPPING=1");
  stopping = true;
  if (watchdog.joinable()) watchdog.detach();  // sleeping; dies with the process
  return exit_code;
}
