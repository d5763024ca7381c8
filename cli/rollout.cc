// droverctl rollout: a channel's staged rollout (status, the operator's
// controls) and its rollout policy.
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "cli/command.h"
#include "cli/output.h"
#include "cli/parse.h"
#include "cli/views.h"
#include "common/text.h"
#include "proto/wire/time.h"

namespace drover::cli {
namespace {

const char kListHint[] = "see 'droverctl channels list' for the channels that exist";

std::string Hint(const grpc::Status& s) {
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) return kListHint;
  return "";
}

std::string GroupFigures(const v1::RolloutGroupStatus& g) {
  return absl::StrCat(g.on_target_healthy(), "/", g.present());
}

std::string RenderRollout(const v1::Rollout& r, absl::Time now) {
  KeyValues kv;
  kv.Add("Channel", ChannelId(r.channel()));
  kv.Add("Rollout", absl::StrCat("#", r.id(), "  ", r.start_version().empty() ? "(none)" : r.start_version(), " -> ",
                                 r.target_version(), "  started ", FormatTime(r.created_at()), " (",
                                 FormatAge(r.created_at(), now), ")"));
  std::string state = r.state();
  if (!r.reason().empty()) absl::StrAppend(&state, ": ", r.reason());
  absl::StrAppend(&state, "  (since ", FormatAge(r.state_since(), now), ")");
  kv.Add("State", state);
  if (r.skip_canaries()) kv.Add("Forced", absl::StrCat("no canaries: ", r.force_reason()));
  if (r.has_forecast_done()) {
    kv.Add("Forecast", absl::StrCat("done at the earliest ", FormatTime(r.forecast_done()),
                                    " (windows, canary watches and bake times; installs not counted)"));
  }
  if (r.hosts_outside() > 0) {
    kv.Add("Outside", absl::StrCat(r.hosts_outside(),
                                   " hosts in no listed group (catch-all off: their updates are off, they keep what "
                                   "they run)"));
  }
  std::string out = kv.Render();
  Table t({"GROUP", "STATE", "ON TARGET", "LET IN", "IN FLIGHT", "UPDATING", "CANARIES", "FAILED", "REASON"});
  for (const v1::RolloutGroupStatus& g : r.groups()) {
    t.AddRow({g.name(), g.state(), GroupFigures(g), absl::StrCat(g.admitted()), absl::StrCat(g.in_flight()),
              absl::StrCat(g.updating()),
              g.canaries() == 0 ? "-"
                                : absl::StrCat(g.canaries_on_target_healthy(), "/", g.canaries(), " (failed ",
                                               g.canaries_failed(), ", budget ", g.canary_budget(), ")"),
              absl::StrCat(g.failed(), " (budget ", g.budget(), ")"), g.reason()});
  }
  absl::StrAppend(&out, "\n", t.Render());
  return out;
}

Result PrintRollout(CommandContext& ctx, const v1::Rollout& r, const std::string& headline) {
  if (ctx.options.output == OutputFormat::kJson) {
    *ctx.out << ToJson(r) << "\n";
  } else {
    if (!headline.empty()) *ctx.out << headline << "\n\n";
    *ctx.out << RenderRollout(r, absl::Now());
  }
  return Result::Ok();
}

Result RolloutStatus(const Invocation& inv, CommandContext& ctx) {
  v1::GetRolloutRequest req;
  req.set_channel(ChannelName(inv.args[0]));
  v1::Rollout r;
  grpc::Status s = ctx.client->GetRollout(req, &r);
  if (!s.ok()) {
    return RpcFailure(s, absl::StrCat("read the rollout of channel \"", inv.args[0], "\""), ctx.client->address(),
                      Hint(s));
  }
  return PrintRollout(ctx, r, "");
}

// One control: the action's name is the command's last word.
Result Control(const Invocation& inv, CommandContext& ctx, const std::string& action, bool needs_group,
               bool needs_reason) {
  v1::ControlRolloutRequest req;
  req.set_channel(ChannelName(inv.args[0]));
  req.set_action(action);
  if (needs_group) req.set_group(inv.args[1]);
  req.set_reason(inv.Get("reason"));
  if (needs_reason && IsBlank(req.reason())) {
    return Result::Usage(absl::StrCat("rollout ", action, " needs --reason=TEXT saying why (recorded)"));
  }
  v1::Rollout r;
  grpc::Status s = ctx.client->ControlRollout(req, &r);
  if (!s.ok()) {
    return RpcFailure(s, absl::StrCat(action, " the rollout of channel \"", inv.args[0], "\""),
                      ctx.client->address(), Hint(s));
  }
  return PrintRollout(ctx, r, absl::StrCat("Rollout #", r.id(), " of channel ", inv.args[0], ": ", r.state(), "."));
}

std::string RenderPolicy(const v1::RolloutPolicy& p) {
  KeyValues kv;
  std::vector<std::string> groups;
  for (const v1::RolloutGroupSpec& g : p.groups()) {
    std::vector<std::string> windows;
    for (const v1::MaintenanceWindow& w : g.windows()) windows.push_back(FormatWindowSpec(w));
    groups.push_back(windows.empty() ? g.name() : absl::StrCat(g.name(), " (starts in: ", absl::StrJoin(windows, "; "), ")"));
  }
  kv.Add("Groups", groups.empty() ? "(none: one group of every host)" : absl::StrJoin(groups, "\n"));
  kv.Add("Catch-all", p.catch_all() == "off" ? "off (hosts in no listed group: updates off, told nothing)"
                                             : "last-group (hosts in no listed group go with the last)");
  kv.Add("Canaries", absl::StrCat(p.canaries(), " per group (failures tolerated: ", p.canary_budget(), ")"));
  kv.Add("Canary watch", absl::StrCat(FormatDuration(p.canary_watch()),
                                      " healthy on the target before the rest of the group is let in"));
  kv.Add("Group budget", absl::StrCat(p.group_budget(), " failed hosts tolerated per group"));
  kv.Add("Done at", absl::StrCat(p.done_percent(), "% of present hosts on the target and healthy, after baking ",
                                 FormatDuration(p.bake_time())));
  kv.Add("In flight", p.max_in_flight() == 0 ? "no limit" : absl::StrCat("at most ", p.max_in_flight(), " per group"));
  kv.Add("Per period", p.max_per_period() == 0 ? "no limit"
                                               : absl::StrCat("at most ", p.max_per_period(), " hosts let in per ",
                                                              FormatDuration(p.period())));
  kv.Add("Silent timeout", FormatDuration(p.silent_timeout()));
  kv.Add("Auto roll-back", p.auto_rollback() ? "on (a breach tells hosts the start version, downgrade allowed)"
                                             : "off (a breach halts; 'droverctl rollout rollback' to roll back)");
  return kv.Render();
}

Result PolicyShow(const Invocation& inv, CommandContext& ctx) {
  v1::GetRolloutPolicyRequest req;
  req.set_channel(ChannelName(inv.args[0]));
  v1::RolloutPolicy p;
  grpc::Status s = ctx.client->GetRolloutPolicy(req, &p);
  if (!s.ok()) {
    return RpcFailure(s, absl::StrCat("read the rollout policy of channel \"", inv.args[0], "\""),
                      ctx.client->address(), Hint(s));
  }
  if (ctx.options.output == OutputFormat::kJson) {
    *ctx.out << ToJson(p) << "\n";
  } else {
    *ctx.out << RenderPolicy(p);
  }
  return Result::Ok();
}

// Starts from the stored policy: only the flags given change.
Result PolicySet(const Invocation& inv, CommandContext& ctx) {
  v1::GetRolloutPolicyRequest get;
  get.set_channel(ChannelName(inv.args[0]));
  v1::RolloutPolicy p;
  grpc::Status s = ctx.client->GetRolloutPolicy(get, &p);
  if (!s.ok()) {
    return RpcFailure(s, absl::StrCat("read the rollout policy of channel \"", inv.args[0], "\""),
                      ctx.client->address(), Hint(s));
  }
  if (inv.Has("groups")) {
    p.clear_groups();
    const std::string list = inv.Get("groups");
    if (!list.empty()) {
      for (absl::string_view name : absl::StrSplit(list, ',')) {
        if (name.empty()) return Result::Usage(absl::StrCat("--groups=", list, ": an empty group name"));
        p.add_groups()->set_name(std::string(name));
      }
    }
  }
  for (const std::string& gw : inv.GetAll("group-window")) {
    const size_t colon = gw.find(':');
    if (colon == std::string::npos || colon == 0) {
      return Result::Usage(absl::StrCat("--group-window=", gw, ": want GROUP:SPEC, e.g. prod:\"mon-fri 02:00 2h\""));
    }
    const std::string group = gw.substr(0, colon);
    v1::RolloutGroupSpec* spec = nullptr;
    for (v1::RolloutGroupSpec& g : *p.mutable_groups()) {
      if (g.name() == group) spec = &g;
    }
    if (spec == nullptr) {
      return Result::Usage(absl::StrCat("--group-window=", gw, ": no group \"", group, "\" in the policy (--groups)"));
    }
    absl::StatusOr<std::vector<v1::MaintenanceWindow>> windows = ParseWindowSpecs({gw.substr(colon + 1)});
    if (!windows.ok()) return Result::Usage(absl::StrCat("--group-window=", gw, ": ", windows.status().message()));
    for (v1::MaintenanceWindow& w : *windows) *spec->add_windows() = std::move(w);
  }
  if (inv.Has("catch-all")) p.set_catch_all(inv.Get("catch-all"));
  if (inv.Has("canaries")) p.set_canaries(inv.Get("canaries"));
  if (inv.Has("canary-budget")) p.set_canary_budget(inv.Get("canary-budget"));
  if (inv.Has("group-budget")) p.set_group_budget(inv.Get("group-budget"));
  if (inv.Has("done-percent")) {
    double v = 0;
    if (!absl::SimpleAtod(inv.Get("done-percent"), &v) || !(v > 0 && v <= 100)) {
      return Result::Usage(absl::StrCat("--done-percent=", inv.Get("done-percent"), ": want a number in (0, 100]"));
    }
    p.set_done_percent(v);
  }
  struct DurationFlag {
    const char* flag;
    google::protobuf::Duration* field;
    absl::Duration min;
  };
  for (const DurationFlag& d : {DurationFlag{"bake", p.mutable_bake_time(), absl::ZeroDuration()},
                                DurationFlag{"canary-watch", p.mutable_canary_watch(), absl::ZeroDuration()},
                                DurationFlag{"period", p.mutable_period(), absl::Seconds(1)},
                                DurationFlag{"silent-timeout", p.mutable_silent_timeout(), absl::Seconds(1)}}) {
    if (!inv.Has(d.flag)) continue;
    absl::StatusOr<absl::Duration> v = ParseDurationValue(d.flag, inv.Get(d.flag), d.min, absl::Hours(24 * 30));
    if (!v.ok()) return Result::Usage(std::string(v.status().message()));
    wire::DurationToProto(*v, d.field);
  }
  if (inv.Has("max-in-flight")) {
    absl::StatusOr<int64_t> v = ParseCount("max-in-flight", inv.Get("max-in-flight"), 0, 1'000'000'000);
    if (!v.ok()) return Result::Usage(std::string(v.status().message()));
    p.set_max_in_flight(*v);
  }
  if (inv.Has("max-per-period")) {
    absl::StatusOr<int64_t> v = ParseCount("max-per-period", inv.Get("max-per-period"), 0, 1'000'000'000);
    if (!v.ok()) return Result::Usage(std::string(v.status().message()));
    p.set_max_per_period(*v);
  }
  if (inv.Has("auto-rollback")) {
    const std::string v = inv.Get("auto-rollback");
    if (v != "true" && v != "false" && !v.empty()) {
      return Result::Usage(absl::StrCat("--auto-rollback=", v, ": want true or false"));
    }
    p.set_auto_rollback(v != "false");
  }
  v1::SetRolloutPolicyRequest req;
  req.set_channel(ChannelName(inv.args[0]));
  *req.mutable_policy() = p;
  v1::RolloutPolicy stored;
  s = ctx.client->SetRolloutPolicy(req, &stored);
  if (!s.ok()) {
    return RpcFailure(s, absl::StrCat("set the rollout policy of channel \"", inv.args[0], "\""),
                      ctx.client->address(), Hint(s));
  }
  if (ctx.options.output == OutputFormat::kJson) {
    *ctx.out << ToJson(stored) << "\n";
  } else {
    *ctx.out << "Rollout policy of channel " << inv.args[0]
             << " set; it applies to the next rollout (the next target set).\n\n"
             << RenderPolicy(stored);
  }
  return Result::Ok();
}

}  // namespace

std::vector<CommandSpec> RolloutCommands() {
  const std::string rollout_json = "the drover.v1.Rollout (rollout.proto): state, groups with counts and reasons";
  std::vector<CommandSpec> out;
  out.push_back({.words = {"rollout", "status"},
                 .args_synopsis = "ID",
                 .min_args = 1,
                 .max_args = 1,
                 .summary = "a channel's staged rollout: groups, states, hosts, failures, reasons, forecast",
                 .description =
                     "Each group goes unstarted -> canary -> active -> baking -> done, or halted when the\n"
                     "failure budget is breached. ON TARGET is hosts on the target and healthy of those present;\n"
                     "LET IN the hosts told the target; IN FLIGHT those not yet on it healthy; FAILED counts\n"
                     "hosts (not attempts) that failed an install, rolled back, turned unhealthy on the\n"
                     "target or went silent after being let in.",
                 .json = rollout_json,
                 .run = RolloutStatus});
  struct ControlSpec {
    const char* action;
    bool group;
    bool reason_required;
    const char* summary;
  };
  for (const ControlSpec& c : {
           ControlSpec{"pause", false, false, "pause the rollout: nothing advances, nobody new is let in"},
           ControlSpec{"resume", false, false, "resume a paused or halted rollout"},
           ControlSpec{"halt", false, true,
                       "halt the rollout: nobody new is let in, hosts not yet updated keep the start version"},
           ControlSpec{"rollback", false, true,
                       "roll back: every host is told the start version, downgrade allowed"},
           ControlSpec{"start-group", true, false,
                       "start a group now, whatever the group before it or its window"},
           ControlSpec{"mark-done", true, false, "count a group as done now"},
           ControlSpec{"skip-canaries", true, false, "let a group go without (more) canaries"},
       }) {
    const std::string action = c.action;
    const bool group = c.group;
    const bool reason = c.reason_required;
    out.push_back({.words = {"rollout", action},
                   .args_synopsis = group ? "ID GROUP" : "ID",
                   .min_args = group ? 2 : 1,
                   .max_args = group ? 2 : 1,
                   .summary = c.summary,
                   .description = "Recorded in the audit trail with who did it ('droverctl audit').",
                   .json = rollout_json,
                   .flags = {{"reason", "TEXT", reason ? "why (required; recorded)" : "why (recorded)", false, reason}},
                   .run = [action, group, reason](const Invocation& inv, CommandContext& ctx) {
                     return Control(inv, ctx, action, group, reason);
                   }});
  }
  out.push_back({.words = {"rollout", "policy", "show"},
                 .args_synopsis = "ID",
                 .min_args = 1,
                 .max_args = 1,
                 .summary = "how a channel rolls a new target out (groups, canaries, budgets, bake time)",
                 .json = "the drover.v1.RolloutPolicy",
                 .run = PolicyShow});
  out.push_back(
      {.words = {"rollout", "policy", "set"},
       .args_synopsis = "ID",
       .min_args = 1,
       .max_args = 1,
       .summary = "change how a channel rolls targets out (only the flags given change)",
       .description = "Applies from the next target set. Amounts are a count (\"5\") or a share (\"10%\").\n"
                      "Defaults: one group of every host, 5 canaries, canary budget 0, group budget 5%,\n"
                      "done at 90% after 1h of baking, no in-flight or per-period limit, silent timeout\n"
                      "30m, no automatic roll-back.",
       .json = "the stored drover.v1.RolloutPolicy",
       .flags = {{"groups", "A,B,...", "the ordered groups (names the updaters report); empty: one group"},
                 {"group-window", "GROUP:SPEC", "a window the group may start in (repeatable), SPEC as in "
                                                "'windows set'", true},
                 {"catch-all", "last-group|off", "hosts in no listed group: go with the last group, or never (updates off)"},
                 {"canaries", "N|P%", "canaries per group"},
                 {"canary-budget", "N|P%", "failed canaries tolerated per group"},
                 {"group-budget", "N|P%", "failed hosts tolerated per group"},
                 {"done-percent", "P", "share of present hosts on the target healthy for a group to be done"},
                 {"bake", "DURATION", "how long a group bakes before it is done"},
                 {"canary-watch", "DURATION", "how long a group's canaries stay healthy before the rest is let in"},
                 {"max-in-flight", "N", "hosts let in and not yet on the target healthy, per group (0: no limit)"},
                 {"max-per-period", "N", "hosts let in per --period over the rollout (0: no limit)"},
                 {"period", "DURATION", "the period of --max-per-period"},
                 {"silent-timeout", "DURATION", "a host let in and silent this long counts as failed"},
                 {"auto-rollback", "true|false", "on a breach, tell hosts that took the target the start version"}},
       .run = PolicySet});
  return out;
}

}  // namespace drover::cli
