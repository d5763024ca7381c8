// droverctl target set|clear, critical raise|lower, control-plane set: what
// version a channel's agents should run, and how urgently.
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/command.h"
#include "cli/output.h"
#include "cli/parse.h"
#include "cli/views.h"
#include "common/api_limits.h"
#include "proto/wire/time.h"
#include "common/text.h"

namespace drover::cli {
namespace {

const char kListHint[] = "see 'droverctl channels list' for the channels that exist";

// Advice for a refusal, by what was refused.
std::string Hint(const grpc::Status& s, const std::string& refused_hint) {
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) return kListHint;
  if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) return refused_hint;
  return "";
}

Result SetTarget(const Invocation& inv, CommandContext& ctx, const std::string& version) {
  v1::SetTargetVersionRequest req;
  req.set_name(ChannelName(inv.args[0]));
  req.set_version(version);
  req.set_allow_downgrade(inv.GetBool("allow-downgrade"));
  if (inv.Has("force")) {
    if (IsBlank(inv.Get("force"))) {
      return Result::Usage("--force needs a reason (--force=TEXT): skipping canaries is recorded with it");
    }
    req.set_force_reason(inv.Get("force"));
  }
  v1::Channel channel;
  grpc::Status s = ctx.client->SetTargetVersion(req, &channel);
  if (!s.ok()) {
    return RpcFailure(s, absl::StrCat("set the target of channel \"", inv.args[0], "\" to ", version),
                      ctx.client->address(),
                      Hint(s, "a target must be at or below the control-plane version and at most one major below "
                              "it (see 'droverctl channels show " +
                                  inv.args[0] + "'); to roll back below the current target pass --allow-downgrade"));
  }
  const std::string headline =
      channel.target_version().empty()
          ? absl::StrCat("Cleared the target of channel ", inv.args[0], ": updaters keep what they run.")
          : absl::StrCat("Channel ", inv.args[0], " now targets ", channel.target_version(),
                         channel.target_allows_downgrade() ? " (a roll-back: updaters may downgrade)." : ".");
  return PrintChannel(ctx, channel, headline);
}

Result TargetSet(const Invocation& inv, CommandContext& ctx) { return SetTarget(inv, ctx, inv.args[1]); }
Result TargetClear(const Invocation& inv, CommandContext& ctx) { return SetTarget(inv, ctx, "none"); }

Result SetCritical(const Invocation& inv, CommandContext& ctx, bool critical) {
  v1::SetCriticalRequest req;
  req.set_name(ChannelName(inv.args[0]));
  req.set_critical(critical);
  req.set_reason(inv.Get("reason"));
  if (critical && IsBlank(req.reason())) {
    return Result::Usage(absl::StrCat("critical raise needs --reason=TEXT saying why the target must go out now "
                                      "(e.g. a CVE id)",
                                      req.reason().empty() ? "" : "; the one given holds only blanks"));
  }
  v1::Channel channel;
  grpc::Status s = ctx.client->SetCritical(req, &channel);
  if (!s.ok()) {
    return RpcFailure(s, absl::StrCat(critical ? "raise" : "lower", " the critical toggle of channel \"", inv.args[0],
                                      "\""),
                      ctx.client->address(), Hint(s, ""));
  }
  const std::string headline =
      critical ? absl::StrCat("Raised the critical toggle of channel ", inv.args[0],
                              ": updaters apply the target outside maintenance windows.")
               : absl::StrCat("Lowered the critical toggle of channel ", inv.args[0], ".");
  return PrintChannel(ctx, channel, headline);
}

Result CriticalRaise(const Invocation& inv, CommandContext& ctx) { return SetCritical(inv, ctx, true); }
Result CriticalLower(const Invocation& inv, CommandContext& ctx) { return SetCritical(inv, ctx, false); }

Result ControlPlaneSet(const Invocation& inv, CommandContext& ctx) {
  v1::SetControlPlaneVersionRequest req;
  req.set_name(ChannelName(inv.args[0]));
  if (inv.args.size() > 1) req.set_version(inv.args[1]);
  if (inv.Has("follow")) {
    const std::string follow = inv.Get("follow");
    if (follow != "true" && follow != "false") {
      return Result::Usage(absl::StrCat("--follow=", follow, ": want true or false"));
    }
    req.set_follows_control_plane(follow == "true");
  } else if (inv.args.size() < 2) {
    return Result::Usage("'control-plane set' needs a VERSION, or --follow=true|false");
  }
  v1::Channel channel;
  grpc::Status s = ctx.client->SetControlPlaneVersion(req, &channel);
  if (!s.ok()) {
    return RpcFailure(s,
                      inv.args.size() > 1 ? absl::StrCat("set the control-plane version of channel \"", inv.args[0],
                                                         "\" to ", inv.args[1])
                                          : absl::StrCat("change whether channel \"", inv.args[0],
                                                         "\" follows its control plane"),
                      ctx.client->address(),
                      Hint(s, "the current target must stay at or below the control plane and at most one major "
                              "below it; change the target first ('droverctl target set " +
                                  inv.args[0] + " VERSION')"));
  }
  if (req.has_follows_control_plane() && channel.follows_control_plane() != req.follows_control_plane()) {
    return Result::Error(absl::StrCat(
        "the coordinator (", ctx.client->address(), ") did not change whether channel \"", inv.args[0],
        "\" follows its control plane: it is a replica older than this droverctl (--follow unknown to it). "
        "Upgrade the coordinator and run this again"));
  }
  return PrintChannel(ctx, channel,
                      absl::StrCat("Channel ", inv.args[0], " now has control plane ", channel.control_plane_version(),
                                   channel.follows_control_plane()
                                       ? absl::StrCat(", and its target follows it (", channel.target_version(), ")")
                                       : "",
                                   "."));
}

Result PollIntervalSet(const Invocation& inv, CommandContext& ctx) {
  // The coordinator's bounds, checked here too so a typo never reaches it.
  const std::string& value = inv.args[1];
  absl::StatusOr<absl::Duration> parsed = ParsePollInterval("poll interval ", value);
  if (!parsed.ok()) return Result::Usage(std::string(parsed.status().message()));
  const absl::Duration interval = *parsed;
  v1::SetPollIntervalRequest req;
  req.set_name(ChannelName(inv.args[0]));
  // Whole milliseconds: ParsePollInterval accepts no finer.
  wire::DurationToProto(interval, req.mutable_poll_interval());
  v1::Channel channel;
  grpc::Status s = ctx.client->SetPollInterval(req, &channel);
  if (!s.ok()) {
    return RpcFailure(s, absl::StrCat("set the poll interval of channel \"", inv.args[0], "\" to ", value),
                      ctx.client->address(), Hint(s, ""));
  }
  return PrintChannel(ctx, channel,
                      absl::StrCat("Channel ", inv.args[0], " now polls every ", FormatDuration(channel.poll_interval()),
                                   " (agents silent for ", kStaleAfterPollIntervals,
                                   " intervals are stale)."));
}

}  // namespace

std::vector<CommandSpec> TargetCommands() {
  const std::string channel_json = "the updated drover.v1.Channel (see 'droverctl help channels show')";
  std::vector<CommandSpec> out;
  out.push_back({.words = {"target", "set"},
                 .args_synopsis = "ID VERSION",
                 .min_args = 2,
                 .max_args = 2,
                 .summary = "set the version a channel's agents should run",
                 .description = "VERSION is strict semver (a leading \"v\" is accepted). It must be at or below the\n"
                                "channel's control-plane version and at most one major version below it, else the\n"
                                "coordinator refuses it (exit 4). A version below the current target is a roll-back\n"
                                "and needs --allow-downgrade; so does setting again a roll-back target that was\n"
                                "cleared.\n"
                                "Setting a target starts a staged rollout from the previous target through the\n"
                                "channel's groups ('droverctl rollout status ID', 'droverctl help rollout policy\n"
                                "set').",
                 .json = channel_json,
                 .flags = {{"allow-downgrade", "", "allow a target below the current one (a roll-back)"},
                           {"force", "REASON",
                            "start the rollout without canaries in any group (recorded with REASON); the "
                            "failure brake still applies"}},
                 .run = TargetSet});
  out.push_back({.words = {"target", "clear"},
                 .args_synopsis = "ID",
                 .min_args = 1,
                 .max_args = 1,
                 .summary = "clear a channel's target (version \"none\"): updaters keep what they run",
                 .json = channel_json,
                 .run = TargetClear});
  out.push_back({.words = {"critical", "raise"},
                 .args_synopsis = "ID",
                 .min_args = 1,
                 .max_args = 1,
                 .summary = "raise the critical toggle: updaters apply the target outside maintenance windows",
                 .json = channel_json,
                 .flags = {{"reason", "TEXT", "why, e.g. a CVE id", false, true}},
                 .run = CriticalRaise});
  out.push_back({.words = {"critical", "lower"},
                 .args_synopsis = "ID",
                 .min_args = 1,
                 .max_args = 1,
                 .summary = "lower the critical toggle",
                 .json = channel_json,
                 .flags = {{"reason", "TEXT", "why (optional; recorded in the history)"}},
                 .run = CriticalLower});
  out.push_back({.words = {"control-plane", "set"},
                 .args_synopsis = "ID [VERSION]",
                 .min_args = 1,
                 .max_args = 2,
                 .summary = "set the control-plane (Auth/Proxy) version a channel's agents talk to",
                 .description = "Refused (exit 4) when the current target would break the version rules under the\n"
                                "new control plane. On a channel that follows its control plane (--follow=true, or\n"
                                "'channels create --follow-control-plane') the target moves with it: a new target,\n"
                                "rolled out like any other, and down too when the control plane goes down.",
                 .json = channel_json,
                 .flags = {{"follow", "true|false",
                            "make the target follow the control plane (true: set to it now), or stop (false: kept)"}},
                 .run = ControlPlaneSet});
  out.push_back({.words = {"poll-interval", "set"},
                 .args_synopsis = "ID DURATION",
                 .min_args = 2,
                 .max_args = 2,
                 .summary = absl::StrCat("set how often a channel's updaters poll (",
                                         absl::FormatDuration(kMinPollInterval), "..",
                                         absl::FormatDuration(kMaxPollInterval), ")"),
                 .description = absl::StrCat("DURATION like 30s, 5m or 1h, in whole milliseconds. Updaters pick it up "
                                             "at their next poll; an\nagent silent for ",
                                             kStaleAfterPollIntervals,
                                             " intervals counts as stale. Recorded in the channel's history."),
                 .json = channel_json,
                 .run = PollIntervalSet});
  return out;
}

}  // namespace drover::cli
