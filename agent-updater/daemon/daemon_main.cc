// drover-updater: the command operators and systemd run. `once`, `status`,
// `clear` and `check` become drover-updater-pass (exec, same process). `run`
// is the daemon: a small process that links neither gRPC, protobuf nor
// OpenSSL, and starts drover-updater-pass for every pass. So between passes
// only this loop is resident (a few MiB), a pass that wedges is killed after
// --max_pass_duration instead of holding the agent hostage, and a pass that
// crashes costs one pass, not the daemon. With `watch` configured, the daemon
// also holds one long poll on the coordinator's watch endpoint (a plain
// socket, daemon/watch_client.h) and brings the next pass forward when this
// host's answer changes.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent-updater/daemon/pass_report.h"
#include "agent-updater/daemon/watch_client.h"
#include "common/backoff.h"
#include "common/log.h"
#include "common/stop_signals.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
// The file descriptor a pass writes its result line to.
constexpr int kResultFd = 3;

constexpr const char* kUsage =
    "drover-updater keeps one agent on its channel's target version.\n"
    "Usage: drover-updater run     run as a daemon (systemd Type=notify)\n"
    "       drover-updater once    run one pass and exit (for a systemd timer)\n"
    "       drover-updater status  print what it knows\n"
    "       drover-updater clear   forget a rolled-back or failed version so it is tried again\n"
    "       drover-updater check   validate the configuration and exit\n"
    "Flags (as --flag=value): --config, --coordinator, --channel, --group, --host_id, --state_dir;\n"
    "run also takes --max_pass_duration (default 1h): a longer pass is killed.\n"
    "Exit codes: 0 ok, 1 failed, 2 bad usage or configuration, 3 another pass is running.\n";

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

// drover-updater-pass beside this binary, or $DROVER_UPDATER_PASS.
std::string PassBinary() {
  if (const char* p = std::getenv("DROVER_UPDATER_PASS"); p != nullptr && *p != '\0') return p;
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return "drover-updater-pass";
  std::string dir(self, static_cast<size_t>(n));
  return dir.substr(0, dir.rfind('/') + 1) + "drover-updater-pass";
}

[[noreturn]] void ExecPass(const std::string& binary, const std::vector<std::string>& args) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>("drover-updater-pass"));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execv(binary.c_str(), argv.data());
  std::fprintf(stderr, "drover-updater: cannot run %s: %s (install it beside drover-updater, or set "
               "DROVER_UPDATER_PASS)\n", binary.c_str(), std::strerror(errno));
  _exit(kExitFailed);
}

// Every process below `root`, from the parent links in /proc.
std::vector<pid_t> Descendants(pid_t root) {
  std::unordered_multimap<pid_t, pid_t> children;
  if (DIR* proc = opendir("/proc"); proc != nullptr) {
    while (dirent* e = readdir(proc)) {
      pid_t pid = 0;
      if (!absl::SimpleAtoi(e->d_name, &pid)) continue;
      std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
      std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      // "pid (comm) state ppid ...": comm may hold spaces, so parse after ')'.
      const size_t paren = stat.rfind(')');
      if (paren == std::string::npos) continue;
      char state = 0;
      pid_t ppid = 0;
      if (std::sscanf(stat.c_str() + paren + 1, " %c %d", &state, &ppid) == 2) children.emplace(ppid, pid);
    }
    closedir(proc);
  }
  std::vector<pid_t> out;
  std::vector<pid_t> frontier = {root};
  while (!frontier.empty()) {
    const pid_t parent = frontier.back();
    frontier.pop_back();
    auto [first, last] = children.equal_range(parent);
    for (auto it = first; it != last; ++it) {
      out.push_back(it->second);
      frontier.push_back(it->second);
    }
  }
  return out;
}

// Kills a pass with everything it started that still hangs below it
// (commands it runs have process groups of their own, so killing its group
// is not enough). Stopped first, so none can fork or be orphaned meanwhile.
// An agent its restart command detached is no longer below it and lives on.
void KillPassTree(pid_t pass) {
  kill(pass, SIGSTOP);
  std::vector<pid_t> tree;
  for (int round = 0; round < 5; ++round) {
    std::vector<pid_t> now = Descendants(pass);
    for (pid_t p : now) kill(p, SIGSTOP);
    const bool stable = now.size() == tree.size();
    tree = std::move(now);
    if (stable) break;
  }
  for (pid_t p : tree) kill(p, SIGKILL);
  kill(-pass, SIGKILL);
  kill(pass, SIGKILL);
}

struct PassExit {
  int exit_code = -1;   // -1: killed by a signal
  int signal = 0;
  bool timed_out = false;
  std::string output;   // what it wrote to kResultFd
  absl::Duration took;
  double peak_rss_mib = 0;
};

// Runs one drover-updater-pass and waits for it, pinging systemd's watchdog
// every `ping_every` meanwhile (zero: no watchdog). A pass still running after
// `deadline` is killed: SIGKILL is safe at any step of a pass.
PassExit RunPass(const std::string& binary, const std::vector<std::string>& args, absl::Duration deadline,
                 absl::Duration ping_every) {
  PassExit out;
  const absl::Time start = absl::Now();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    drover::LogError(absl::StrCat("cannot create a pipe for the pass: ", std::strerror(errno)));
    out.exit_code = kExitFailed;
    return out;
  }
  const pid_t pid = fork();
  if (pid == 0) {
    // The pass must not speak to systemd as if it were the service.
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    // Its own process group, apart from the daemon's.
    setpgid(0, 0);
    dup2(fds[1], kResultFd);  // the copy is without O_CLOEXEC, and blocking
    fcntl(kResultFd, F_SETFL, 0);
    ExecPass(binary, args);
  }
  close(fds[1]);
  if (pid > 0) setpgid(pid, pid);  // also here: whichever runs first
  if (pid < 0) {
    close(fds[0]);
    drover::LogError(absl::StrCat("cannot start a pass: ", std::strerror(errno)));
    out.exit_code = kExitFailed;
    return out;
  }
  // Woken by the pass's exit (a pidfd) or its result; without pidfds (Linux
  // before 5.3) the exit is looked for every 200 ms.
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  auto drain = [&] {
    char buf[1024];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof(buf))) > 0) {
      if (out.output.size() < 64 * 1024) out.output.append(buf, static_cast<size_t>(n));
    }
  };
  int status = 0;
  rusage usage{};
  bool pipe_open = true;
  for (;;) {
    if (wait4(pid, &status, WNOHANG, &usage) == pid) break;
    const absl::Duration left = deadline - (absl::Now() - start);
    if (left <= absl::ZeroDuration()) {
      KillPassTree(pid);
      wait4(pid, &status, 0, &usage);
      out.timed_out = true;
      break;
    }
    absl::Duration wait = ping_every > absl::ZeroDuration() ? std::min(left, ping_every) : left;
    if (pidfd < 0) wait = std::min(wait, absl::Milliseconds(200));
    // Once the pass closed its end (it is exiting), only its exit is waited for.
    pollfd p[2] = {{pipe_open ? fds[0] : -1, POLLIN, 0}, {pidfd, POLLIN, 0}};
    if (!pipe_open && pidfd < 0) wait = std::min(wait, absl::Milliseconds(20));
    poll(p, 2, static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(wait))));
    if (p[0].revents & (POLLIN | POLLHUP)) {
      drain();
      if (p[0].revents & POLLHUP) pipe_open = false;
    }
    if (ping_every > absl::ZeroDuration()) Notify("WATCHDOG=1");
  }
  drain();
  close(fds[0]);
  if (pidfd >= 0) close(pidfd);
  out.took = absl::Now() - start;
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  out.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  out.peak_rss_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;
  return out;
}

int RunDaemon(const std::vector<std::string>& pass_args, absl::Duration max_pass) {
  const std::string binary = PassBinary();
  // SIGTERM/SIGINT stop the daemon between passes, never in the middle of one.
  const sigset_t stop_signals = drover::BlockStopSignals();

  absl::Duration ping_every = absl::ZeroDuration();
  if (const char* usec = std::getenv("WATCHDOG_USEC"); usec != nullptr) {
    int64_t interval_us = 0;
    if (absl::SimpleAtoi(usec, &interval_us) && interval_us > 0) ping_every = absl::Microseconds(interval_us / 2);
  }

  // Bad configuration is refused at start, by the pass's own checks.
  std::vector<std::string> check = {"check"};
  check.insert(check.end(), pass_args.begin(), pass_args.end());
  PassExit checked = RunPass(binary, check, absl::Minutes(1), ping_every);
  if (checked.exit_code != kExitOk) {
    return checked.exit_code == kExitUsage ? kExitUsage : kExitFailed;
  }
  Notify("READY=1");
  drover::LogInfo(absl::StrCat("drover-updater daemon: a pass by ", binary, " now and after every poll interval"));

  std::vector<std::string> once = {"once", absl::StrCat("--result_fd=", kResultFd), "--wait_for_lock"};
  once.insert(once.end(), pass_args.begin(), pass_args.end());
  std::mt19937_64 rng(std::random_device{}());
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  auto uniform = [&] { return unit(rng); };
  drover::Backoff backoff(absl::Seconds(1), drover::updater::kDefaultRetryCap, uniform);
  // The stop signals, read in the same poll as the watch connection.
  const int stop_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK);
  if (stop_fd < 0) {
    drover::LogError(absl::StrCat("signalfd: ", std::strerror(errno)));
    return kExitFailed;
  }
  drover::updater::WatchClient watch(uniform, [](const std::string& line) { drover::LogInfo(line); });
  drover::updater::PushPacer pacer;
  bool pushed = false;  // the next pass was brought forward by the watch
  for (;;) {
    if (pushed) pacer.Started(absl::Now());
    PassExit pass = RunPass(binary, once, max_pass, ping_every);
    std::optional<drover::updater::PassReport> report;
    if (!pass.output.empty()) {
      absl::StatusOr<drover::updater::PassReport> parsed = drover::updater::ParsePassReport(pass.output);
      if (parsed.ok()) {
        report = *std::move(parsed);
      } else {
        drover::LogError(absl::StrCat("pass result unreadable: ", parsed.status().message()));
      }
    }
    if (report) {
      backoff.SetLimits(report->backoff_initial, report->backoff_max);
      Notify(absl::StrCat("STATUS=", report->summary));
    }
    if (pass.timed_out) {
      drover::LogError(absl::StrCat("pass still running after ", absl::FormatDuration(max_pass),
                                    ": killed it; the next pass finishes or undoes what it left"));
    } else if (pass.signal != 0) {
      drover::LogError(absl::StrCat("pass died of signal ", pass.signal, "; retrying with backoff"));
    } else if (pass.exit_code == kExitUsage) {
      drover::LogError("the configuration is no longer valid (see above): fix it; retrying with backoff");
    }
    const absl::Duration wait = drover::updater::NextPassAfter(report, backoff, unit(rng));
    drover::LogInfo(absl::StrFormat("pass took %.1f s (peak RSS %.1f MiB), exit %d; next in %s",
                                    absl::ToDoubleSeconds(pass.took), pass.peak_rss_mib, pass.exit_code,
                                    absl::FormatDuration(absl::Trunc(wait, absl::Milliseconds(100)))));
    // Pushes only after a pass that reached the coordinator (it named the
    // answer acted on); otherwise backoff alone paces the retries.
    if (report && report->ok && report->coordinator_reachable && !report->watch.empty()) {
      const std::string tag = drover::updater::TagAfterPass(report->answer_tag, pushed, watch.announced_tag());
      if (tag != report->answer_tag) {
        drover::LogInfo(absl::StrCat("the pass acted on answer tag ",
                                     report->answer_tag.empty() ? "none" : report->answer_tag,
                                     ", not the one the watch announced (", tag,
                                     "; a refused or expired answer, a newer one, or another replica's): "
                                     "the watch waits for the answer to move on from ", tag));
      }
      watch.Watch(report->watch, drover::updater::WithTag(report->watch_path, tag), tag, absl::Now(),
                  report->answer_tag);
    } else {
      watch.Watch("", "", "", absl::Now());
    }
    // Wait until the next pass, pinging the watchdog, reading the watch,
    // unless told to stop.
    absl::Time next = absl::Now() + wait;
    absl::Time last_ping = absl::Now();
    pushed = false;
    for (;;) {
      absl::Time now = absl::Now();
      if (now >= next) break;
      absl::Time until = std::min(next, watch.Deadline());
      if (ping_every > absl::ZeroDuration()) until = std::min(until, last_ping + ping_every);
      pollfd p[2] = {{stop_fd, POLLIN, 0}, {watch.fd(), watch.events(), 0}};
      const int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(std::max(until - now, absl::ZeroDuration()),
                                                              absl::Milliseconds(1)));
      poll(p, 2, static_cast<int>(std::min<int64_t>(ms, 24 * 3600 * 1000)));
      if (p[0].revents & POLLIN) {
        signalfd_siginfo si{};
        if (read(stop_fd, &si, sizeof(si)) == static_cast<ssize_t>(sizeof(si)) &&
            (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)) {
          drover::LogInfo("stopping");
          Notify("STOPPING=1");
          close(stop_fd);
          return kExitOk;
        }
      }
      now = absl::Now();
      if (watch.Step(now, p[1].revents)) {
        const absl::Time at = pacer.At(now, unit(rng));
        if (at < next) {
          next = at;
          pushed = true;
          drover::LogInfo(absl::StrCat("the coordinator announced a change of this host's answer: pass in ",
                                       absl::FormatDuration(absl::Trunc(at - now, absl::Milliseconds(10))),
                                       " (answer tag ", watch.tag().empty() ? "none" : watch.tag(), " -> ",
                                       watch.announced_tag(), ")"));
        }
      }
      if (ping_every > absl::ZeroDuration() && now >= last_ping + ping_every) {
        Notify("WATCHDOG=1");
        last_ping = now;
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string command;
  std::vector<std::string> rest;
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h" || a == "--helpfull") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    }
    if (command.empty() && !absl::StartsWith(a, "-")) {
      command = a;
    } else {
      rest.push_back(a);
    }
  }
  if (command.empty()) {
    std::fprintf(stderr, "drover-updater: expected one command: run, once, status, clear or check\n%s", kUsage);
    return kExitUsage;
  }
  if (command != "run") {
    // Everything else is one pass's business, with its own checks and errors.
    std::vector<std::string> pass = {command};
    pass.insert(pass.end(), rest.begin(), rest.end());
    ExecPass(PassBinary(), pass);
  }
  absl::Duration max_pass = absl::Hours(1);
  std::vector<std::string> pass_args;
  for (const std::string& a : rest) {
    if (absl::StartsWith(a, "--max_pass_duration=")) {
      const std::string value = a.substr(std::strlen("--max_pass_duration="));
      if (!absl::ParseDuration(value, &max_pass) || max_pass <= absl::ZeroDuration()) {
        std::fprintf(stderr, "drover-updater: --max_pass_duration=\"%s\" is not a positive duration (e.g. 30m)\n",
                     value.c_str());
        return kExitUsage;
      }
    } else {
      pass_args.push_back(a);
    }
  }
  return RunDaemon(pass_args, max_pass);
}
