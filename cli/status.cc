// droverctl status: a channel's rollout at a glance, once or refreshed in place.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "cli/command.h"
#include "cli/output.h"
#include "cli/parse.h"
#include "cli/views.h"
#include "common/api_limits.h"

namespace drover::cli {
namespace {

constexpr int kBarWidth = 30;

// Written by the SIGINT/SIGTERM handler, read by the watch loop (self-pipe).
int interrupt_pipe[2] = {-1, -1};

void OnInterrupt(int) {
  const int saved = errno;
  const char byte = 1;
  if (write(interrupt_pipe[1], &byte, 1) < 0) {
    // Nothing to do in a signal handler; the pipe is only full if already signalled.
  }
  errno = saved;
}

// Ends the watch on SIGINT/SIGTERM; returns false when that cannot be set up.
bool InstallInterruptHandler() {
  if (pipe(interrupt_pipe) != 0) return false;
  for (int fd : interrupt_pipe) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigemptyset(&sa.sa_mask);
  return sigaction(SIGINT, &sa, nullptr) == 0 && sigaction(SIGTERM, &sa, nullptr) == 0;
}

// Waits up to `d`; true when interrupted.
bool WaitInterrupted(absl::Duration d) {
  const absl::Time deadline = absl::Now() + d;
  for (;;) {
    const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
    pollfd p{interrupt_pipe[0], POLLIN, 0};
    const int r = poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left)));
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return false;
  }
}

bool Interrupted() { return WaitInterrupted(absl::ZeroDuration()); }

std::string RenderStatus(const v1::RolloutStatus& st, const std::optional<v1::Channel>& channel, absl::Time now) {
  KeyValues kv;
  kv.Add("Channel", ChannelId(st.channel()));
  std::string target = st.target_version().empty() ? "none" : st.target_version();
  if (st.critical()) {
    absl::StrAppend(&target, "  CRITICAL");
    if (channel && !channel->critical_reason().empty()) absl::StrAppend(&target, ": ", channel->critical_reason());
  }
  if (!st.target_version().empty()) absl::StrAppend(&target, "  (set ", FormatTime(st.target_update_time()), ")");
  if (channel && channel->target_allows_downgrade()) absl::StrAppend(&target, "  roll-back");
  kv.Add("Target", target);
  kv.Add("Control plane", st.control_plane_version());
  if (channel) kv.Add("Windows", RenderWindows(*channel, now));
  kv.Add("Agents", absl::StrCat(st.total_agents()));
  kv.Add("On target", st.target_version().empty()
                          ? "- (no target)"
                          : absl::StrCat(st.on_target(), " of ", st.total_agents(), " (",
                                         Percent(st.percent_on_target()), ")"));
  kv.Add("Health", absl::StrCat(st.healthy(), " healthy, ", st.unhealthy(), " unhealthy"));
  kv.Add("Stale", absl::StrCat(st.stale()));
  kv.Add("Out of policy", absl::StrCat(st.out_of_policy()));
  kv.Add("Since target", absl::StrCat(st.failed_since_target(), " failed, ", st.rolled_back_since_target(),
                                      " rolled back, ", st.succeeded_since_target(), " succeeded"));
  // Why hosts may update outside the windows, and cloned host ids: shown
  // only when there is something to say.
  std::vector<std::string> schedules;
  for (const v1::ScheduleStateCount& c : st.schedule_states()) {
    if (std::string note = ScheduleNote(c.state()); !note.empty()) schedules.push_back(absl::StrCat(c.agents(), " ", note));
  }
  if (!schedules.empty()) kv.Add("Schedules", absl::StrJoin(schedules, "\n"));
  if (st.instance_conflicts() > 0) {
    kv.Add("Cloned host ids", absl::StrCat(st.instance_conflicts(),
                                           " (reported by two updaters: 'droverctl agents list --conflicts')"));
  }
  std::string out = kv.Render();
  out += "\n";
  if (st.versions().empty()) {
    out += "No agents have reported on this channel yet.\n";
    return out;
  }
  size_t version_width = 0;
  size_t count_width = 0;
  for (const v1::VersionCount& v : st.versions()) {
    version_width = std::max(version_width, v.version().size());
    count_width = std::max(count_width, absl::StrCat(v.agents()).size());
  }
  for (const v1::VersionCount& v : st.versions()) {
    const double pct = st.total_agents() > 0 ? 100.0 * static_cast<double>(v.agents()) / st.total_agents() : 0;
    std::vector<std::string> notes;
    if (v.on_target()) notes.push_back("on target");
    if (v.unhealthy() > 0) notes.push_back(absl::StrCat(v.unhealthy(), " unhealthy"));
    if (v.out_of_policy()) notes.push_back("OUT OF POLICY");
    std::string line = absl::StrCat(PadRight(v.version(), version_width), "  ", Bar(v.agents(), st.total_agents(), kBarWidth),
                                    "  ", PadLeft(absl::StrCat(v.agents()), count_width), " ",
                                    PadLeft(absl::StrCat("(", Percent(pct), ")"), 8));
    if (!notes.empty()) absl::StrAppend(&line, "  ", absl::StrJoin(notes, ", "));
    out += line + "\n";
  }
  return out;
}

// One status snapshot; the channel too for the table (critical reason, windows).
grpc::Status Fetch(CommandContext& ctx, const std::string& name, v1::RolloutStatus* st,
                   std::optional<v1::Channel>* channel) {
  v1::GetRolloutStatusRequest req;
  req.set_name(name);
  grpc::Status s = ctx.client->GetRolloutStatus(req, st);
  if (!s.ok() || ctx.options.output == OutputFormat::kJson) return s;
  v1::GetChannelRequest get;
  get.set_name(name);
  v1::Channel c;
  // The channel only adds detail; without it the status still shows.
  if (ctx.client->GetChannel(get, &c).ok()) *channel = std::move(c);
  return s;
}

Result Status(const Invocation& inv, CommandContext& ctx) {
  const std::string name = ChannelName(inv.args[0]);
  const std::string what = absl::StrCat("get the rollout status of channel \"", inv.args[0], "\"");
  const std::string hint = "see 'droverctl channels list' for the channels that exist";
  const bool watch = inv.GetBool("watch");
  absl::Duration interval = absl::Seconds(2);
  if (inv.Has("interval")) {
    if (!watch) return Result::Usage("--interval only applies with --watch");
    absl::StatusOr<absl::Duration> d =
        ParseDurationValue("interval", inv.Get("interval"), absl::Milliseconds(100), absl::Hours(1));
    if (!d.ok()) return Result::Usage(std::string(d.status().message()));
    interval = *d;
  }
  const bool json = ctx.options.output == OutputFormat::kJson;

  if (!watch) {
    v1::RolloutStatus st;
    std::optional<v1::Channel> channel;
    grpc::Status s = Fetch(ctx, name, &st, &channel);
    if (!s.ok()) return RpcFailure(s, what, ctx.client->address(), hint);
    *ctx.out << (json ? ToJson(st) + "\n" : RenderStatus(st, channel, absl::Now()));
    return Result::Ok();
  }

  if (!InstallInterruptHandler()) return Result::Error("cannot set up the SIGINT handler for --watch");
  const bool tty = isatty(STDOUT_FILENO) == 1;
  bool first = true;
  for (;;) {
    v1::RolloutStatus st;
    std::optional<v1::Channel> channel;
    grpc::Status s = Fetch(ctx, name, &st, &channel);
    if (Interrupted()) return Result::Ok();
    const bool transient = RpcFailure(s, what, ctx.client->address()).exit_code == kExitUnavailable;
    // The first snapshot must work; later a coordinator restart only shows as a
    // line in the frame while the watch keeps trying.
    if (!s.ok() && (first || !transient)) return RpcFailure(s, what, ctx.client->address(), hint);
    if (!s.ok()) ctx.client->Reconnect();
    const absl::Time now = absl::Now();
    if (json) {
      if (s.ok()) *ctx.out << ToJson(st, /*pretty=*/false) << "\n";
    } else {
      std::string frame = absl::StrCat("Every ", absl::FormatDuration(interval), " at ",
                                       absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", now, absl::UTCTimeZone()),
                                       " from ", ctx.client->address(), tty ? "  (Ctrl-C to stop)" : "", "\n\n");
      if (s.ok()) {
        frame += RenderStatus(st, channel, now);
      } else {
        absl::StrAppend(&frame, RpcFailure(s, what, ctx.client->address()).error, "\n(retrying)\n");
      }
      if (tty) {
        // Home, each line cleared to its end, then the rest of the screen: no flicker.
        std::string screen = first ? "\033[2J\033[H" : "\033[H";
        for (absl::string_view line : absl::StrSplit(frame, '\n')) absl::StrAppend(&screen, line, "\033[K\n");
        screen.pop_back();
        screen += "\033[J";
        *ctx.out << screen;
      } else {
        *ctx.out << (first ? "" : "\n") << frame;
      }
    }
    ctx.out->flush();
    first = false;
    if (WaitInterrupted(interval)) return Result::Ok();
  }
}

}  // namespace

std::vector<CommandSpec> StatusCommands() {
  std::vector<CommandSpec> out;
  out.push_back(
      {.words = {"status"},
       .args_synopsis = "ID",
       .min_args = 1,
       .max_args = 1,
       .summary = "a channel's rollout: totals, a bar per version, health, stale, out of policy, failures",
       .description = absl::StrCat(
           "Shows the target (and the critical toggle with its reason), the control plane, the maintenance\n"
           "windows, how many agents run each version (a bar each, newest first), how many are on target,\n"
           "unhealthy, stale (silent for ", kStaleAfterPollIntervals,
           " poll intervals) or out of policy, and the failures and roll-backs\n"
           "reported since the target was set.\n"
           "--watch redraws in place every --interval until Ctrl-C (exit 0); when stdout is not a terminal it\n"
           "prints one snapshot after another. A coordinator that becomes unreachable while watching is shown\n"
           "and retried."),
       .json = "a drover.v1.RolloutStatus: {\"channel\", \"target_version\", \"critical\", "
               "\"control_plane_version\", \"total_agents\", \"versions\": [{\"version\", \"agents\", \"healthy\", "
               "\"unhealthy\", \"on_target\", \"out_of_policy\"}...], \"on_target\", \"healthy\", \"unhealthy\", "
               "\"stale\", \"out_of_policy\", \"failed_since_target\", \"rolled_back_since_target\", "
               "\"succeeded_since_target\", \"percent_on_target\", \"target_update_time\", \"compute_time\"}; "
               "with --watch one such document per line per refresh",
       .flags = {{"watch", "", "refresh in place until Ctrl-C"},
                 {"interval", "DURATION", "refresh interval with --watch (default 2s, at least 100ms)"}},
       .run = Status});
  return out;
}

}  // namespace drover::cli
