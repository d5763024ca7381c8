#include "cli/views.h"

#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/api_limits.h"
#include "absl/strings/str_join.h"
#include "cli/output.h"
#include "cli/parse.h"
#include "common/maintenance_window.h"
#include "proto/wire/time.h"

namespace drover::cli {
namespace {

std::string Rounded(absl::Duration d) { return absl::FormatDuration(absl::Trunc(d, absl::Minutes(1))); }

std::string FormatAbslTime(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone()); }

}  // namespace

std::string RenderWindows(const v1::Channel& channel, absl::Time now) {
  if (channel.maintenance_windows().empty()) return "none (updaters apply the target as soon as they see it)";
  std::vector<std::string> lines;
  std::optional<TimeRange> next;
  for (const v1::MaintenanceWindow& w : channel.maintenance_windows()) {
    lines.push_back(FormatWindowSpec(w) + " UTC");
    const MaintenanceWindow window = wire::WindowFromProto(w);
    if (!window.Validate().ok()) continue;  // the coordinator validated it; a bad one is just not forecast
    TimeRange r = window.NextOccurrence(now);
    if (!next || r.start < next->start) next = r;
  }
  if (next) {
    if (next->start <= now) {
      lines.push_back(absl::StrCat("(open now, until ", FormatAbslTime(next->end), ")"));
    } else {
      lines.push_back(
          absl::StrCat("(next opens ", FormatAbslTime(next->start), ", in ", Rounded(next->start - now), ")"));
    }
  }
  return absl::StrJoin(lines, "\n");
}

std::string RenderChannel(const v1::Channel& c, absl::Time now) {
  KeyValues kv;
  kv.Add("Channel", ChannelId(c.name()));
  if (c.target_version().empty()) {
    kv.Add("Target", c.last_target_version().empty()
                         ? std::string("none (updaters keep what they run)")
                         : absl::StrCat("none (updaters keep what they run; last target ", c.last_target_version(),
                                        ", a lower one is a roll-back)"));
  } else {
    std::string target = absl::StrCat(c.target_version(), "  (set ", FormatTime(c.target_update_time()), ")");
    if (c.target_allows_downgrade()) absl::StrAppend(&target, "\nroll-back: updaters may downgrade to it");
    kv.Add("Target", target);
  }
  if (c.critical()) {
    kv.Add("Critical", absl::StrCat("RAISED: ", c.critical_reason(), "  (since ", FormatTime(c.critical_update_time()),
                                    ")\nupdaters apply the target outside maintenance windows"));
  } else {
    kv.Add("Critical", "no");
  }
  kv.Add("Control plane", c.follows_control_plane()
                              ? absl::StrCat(c.control_plane_version(), "  (the target follows it)")
                              : c.control_plane_version());
  const absl::Duration poll = wire::DurationFromProto(c.poll_interval());
  kv.Add("Poll interval", absl::StrCat(absl::FormatDuration(poll), " (agents silent for ",
                                       absl::FormatDuration(kStaleAfterPollIntervals * poll), " are stale)"));
  kv.Add("Windows", RenderWindows(c, now));
  kv.Add("Created", FormatTime(c.create_time()));
  kv.Add("Updated", FormatTime(c.update_time()));
  kv.Add("Generation", absl::StrCat(c.generation()));
  return kv.Render();
}

std::string RenderAgent(const v1::Agent& a, absl::Time now) {
  KeyValues kv;
  kv.Add("Host", a.host_id());
  kv.Add("Channel", ChannelId(a.channel()));
  kv.Add("Group", a.group().empty() ? "-" : a.group());
  kv.Add("Version", a.updating_to().empty() ? a.current_version()
                                             : absl::StrCat(a.current_version(), "  (updating to ", a.updating_to(), ")"));
  kv.Add("Health", HealthName(a.health()));
  kv.Add("Out of policy", a.out_of_policy() ? absl::StrCat("YES: ", a.out_of_policy_reason()) : "no");
  kv.Add("Last seen", absl::StrCat(FormatTime(a.last_seen_time()), " (", FormatAge(a.last_seen_time(), now), ")",
                                   a.stale() ? "  STALE" : ""));
  kv.Add("First seen", FormatTime(a.first_seen_time()));
  kv.Add("Updater", a.updater_version().empty() ? "-" : a.updater_version());
  if (!a.instance_id().empty()) {
    kv.Add("Instance", a.instance_conflict() ? absl::StrCat(a.instance_id(),
                                                            "  CONFLICT: another updater reports this host id too "
                                                            "(a cloned image?); give each host its own host_id")
                                             : a.instance_id());
  }
  if (a.schedule_state() != v1::SCHEDULE_STATE_UNSPECIFIED) {
    const std::string note = ScheduleNote(a.schedule_state());
    kv.Add("Schedule", absl::StrCat(absl::AsciiStrToLower(v1::ScheduleState_Name(a.schedule_state()).substr(15)),
                                    note.empty() ? "" : absl::StrCat("  (", note, ")")));
  }
  if (a.last_result() != v1::UPDATE_RESULT_UNSPECIFIED) {
    kv.Add("Last attempt", absl::StrCat(ResultName(a.last_result()), " (to ", a.last_result_version(), ")"));
  }
  kv.Add("Sequence", absl::StrCat(a.sequence()));
  return kv.Render();
}

Result PrintChannel(CommandContext& ctx, const v1::Channel& channel, const std::string& headline) {
  if (ctx.options.output == OutputFormat::kJson) {
    *ctx.out << ToJson(channel) << "\n";
  } else {
    if (!headline.empty()) *ctx.out << headline << "\n\n";
    *ctx.out << RenderChannel(channel, absl::Now());
  }
  return Result::Ok();
}

}  // namespace drover::cli
