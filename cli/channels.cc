// droverctl channels list|show|create|delete|history.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/command.h"
#include "cli/output.h"
#include "cli/parse.h"
#include "cli/views.h"
#include "common/api_limits.h"
#include "proto/wire/time.h"

namespace drover::cli {
namespace {

const char kListHint[] = "see 'droverctl channels list' for the channels that exist";

Result List(const Invocation&, CommandContext& ctx) {
  v1::ListChannelsResponse resp;
  grpc::Status s = ctx.client->ListChannels({}, &resp);
  if (!s.ok()) return RpcFailure(s, "list channels", ctx.client->address());
  if (ctx.options.output == OutputFormat::kJson) {
    *ctx.out << ToJson(resp) << "\n";
    return Result::Ok();
  }
  if (resp.channels().empty()) {
    *ctx.out << "No channels yet; create one with 'droverctl channels create ID --control-plane=VERSION'.\n";
    return Result::Ok();
  }
  Table table({"CHANNEL", "TARGET", "CRITICAL", "CONTROL PLANE", "POLL", "WINDOWS"});
  for (const v1::Channel& c : resp.channels()) {
    std::vector<std::string> windows;
    for (const v1::MaintenanceWindow& w : c.maintenance_windows()) windows.push_back(FormatWindowSpec(w));
    std::string target = c.target_version().empty() ? "none" : c.target_version();
    if (c.target_allows_downgrade()) absl::StrAppend(&target, " (roll-back)");
    table.AddRow({ChannelId(c.name()), target, c.critical() ? "RAISED" : "-", c.control_plane_version(),
                  FormatDuration(c.poll_interval()), windows.empty() ? "any time" : absl::StrJoin(windows, "; ")});
  }
  *ctx.out << table.Render();
  return Result::Ok();
}

Result Show(const Invocation& inv, CommandContext& ctx) {
  v1::GetChannelRequest req;
  req.set_name(ChannelName(inv.args[0]));
  v1::Channel channel;
  grpc::Status s = ctx.client->GetChannel(req, &channel);
  if (!s.ok()) return RpcFailure(s, absl::StrCat("show channel \"", inv.args[0], "\""), ctx.client->address(), kListHint);
  return PrintChannel(ctx, channel, "");
}

Result Create(const Invocation& inv, CommandContext& ctx) {
  v1::CreateChannelRequest req;
  req.set_channel_id(ChannelId(inv.args[0]));
  req.set_control_plane_version(inv.Get("control-plane"));
  req.set_target_version(inv.Get("target"));
  req.set_follows_control_plane(inv.Has("follow-control-plane"));
  if (inv.Has("poll-interval")) {
    absl::StatusOr<absl::Duration> poll = ParsePollInterval("--poll-interval=", inv.Get("poll-interval"));
    if (!poll.ok()) return Result::Usage(std::string(poll.status().message()));
    // Whole milliseconds: ParsePollInterval accepts no finer.
    wire::DurationToProto(*poll, req.mutable_poll_interval());
  }
  if (inv.Has("window")) {
    absl::StatusOr<std::vector<v1::MaintenanceWindow>> windows = ParseWindowSpecs(inv.GetAll("window"));
    if (!windows.ok()) return Result::Usage(absl::StrCat("--window: ", windows.status().message()));
    for (v1::MaintenanceWindow& w : *windows) *req.add_maintenance_windows() = std::move(w);
  }
  v1::Channel channel;
  grpc::Status s = ctx.client->CreateChannel(req, &channel);
  if (!s.ok()) {
    std::string hint;
    if (s.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
      hint = absl::StrCat("see it with 'droverctl channels show ", req.channel_id(), "', or choose another id");
    } else if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
      hint = "choose a target at or below the control-plane version and at most one major version below it";
    }
    return RpcFailure(s, absl::StrCat("create channel \"", req.channel_id(), "\""), ctx.client->address(), hint);
  }
  if (req.follows_control_plane() && !channel.follows_control_plane()) {
    return Result::Error(absl::StrCat(
        "channel \"", req.channel_id(), "\" was created, but its coordinator (", ctx.client->address(),
        ") does not know --follow-control-plane (a replica older than this droverctl): the channel does not "
        "follow its control plane. Upgrade the coordinator, then 'droverctl control-plane set ",
        req.channel_id(), " --follow=true'"));
  }
  return PrintChannel(ctx, channel, absl::StrCat("Created channel ", req.channel_id(), "."));
}

Result Delete(const Invocation& inv, CommandContext& ctx) {
  v1::DeleteChannelRequest req;
  req.set_name(ChannelName(inv.args[0]));
  req.set_force(inv.GetBool("force"));
  // Forgetting agents cannot be undone: a person at a terminal confirms it.
  if (req.force() && !inv.GetBool("yes") && ctx.confirm &&
      !ctx.confirm(absl::StrCat("Delete channel ", inv.args[0],
                                " and forget its agents (they will be listed by 'droverctl agents list --orphaned' "
                                "while they keep reporting for it)?"))) {
    return Result::Error(absl::StrCat("channel \"", inv.args[0], "\" not deleted: not confirmed (--yes skips the question)"));
  }
  v1::DeleteChannelResponse resp;
  grpc::Status s = ctx.client->DeleteChannel(req, &resp);
  if (!s.ok()) {
    std::string hint = s.error_code() == grpc::StatusCode::FAILED_PRECONDITION
                           ? "move its agents to another channel first, or pass --force to forget them (their "
                             "update history is kept)"
                           : kListHint;
    return RpcFailure(s, absl::StrCat("delete channel \"", inv.args[0], "\""), ctx.client->address(), hint);
  }
  if (ctx.options.output == OutputFormat::kJson) {
    *ctx.out << ToJson(resp) << "\n";
  } else {
    *ctx.out << "Deleted channel " << ChannelId(req.name()) << " (" << resp.agents_removed() << " agents forgotten).\n";
  }
  return Result::Ok();
}

Result History(const Invocation& inv, CommandContext& ctx) {
  constexpr int64_t kPageSize = kMaxPageSize;  // the coordinator's largest page
  v1::ListChannelChangesRequest req;
  req.set_name(ChannelName(inv.args[0]));
  // --limit: the newest N changes. Without it: all of them.
  int64_t limit = -1;
  if (inv.Has("limit")) {
    absl::StatusOr<int64_t> n = ParseCount("limit", inv.Get("limit"), 1, 1000000);
    if (!n.ok()) return Result::Usage(std::string(n.status().message()));
    limit = *n;
  }
  req.set_page_size(static_cast<int32_t>(limit > 0 ? std::min(limit, kPageSize) : kPageSize));
  v1::ListChannelChangesResponse all;
  bool more = false;  // older changes left out by --limit
  for (;;) {
    v1::ListChannelChangesResponse page;
    grpc::Status s = ctx.client->ListChannelChanges(req, &page);
    if (!s.ok()) {
      return RpcFailure(s, absl::StrCat("list the changes of channel \"", inv.args[0], "\""), ctx.client->address(),
                        kListHint);
    }
    for (v1::ChannelChange& c : *page.mutable_changes()) *all.add_changes() = std::move(c);
    if (page.next_page_token().empty()) break;
    if (limit >= 0 && all.changes_size() >= limit) {
      more = true;
      break;
    }
    req.set_page_token(page.next_page_token());
    if (limit >= 0) req.set_page_size(static_cast<int32_t>(std::min(limit - all.changes_size(), kPageSize)));
  }
  if (ctx.options.output == OutputFormat::kJson) {
    *ctx.out << ToJson(all) << "\n";
    return Result::Ok();
  }
  if (all.changes().empty()) {
    *ctx.out << "No changes recorded for channel " << ChannelId(req.name()) << ".\n";
    return Result::Ok();
  }
  Table table({"TIME", "FIELD", "OLD", "NEW", "ACTOR"});
  auto or_dash = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
  for (const v1::ChannelChange& c : all.changes()) {
    table.AddRow({FormatTime(c.change_time()), c.field(), or_dash(c.old_value()), or_dash(c.new_value()),
                  or_dash(c.actor())});
  }
  *ctx.out << table.Render();
  if (more) *ctx.out << "(older changes not shown; raise --limit to see them)\n";
  return Result::Ok();
}

}  // namespace

std::vector<CommandSpec> ChannelCommands() {
  std::vector<CommandSpec> out;
  out.push_back({.words = {"channels", "list"},
                 .summary = "list every channel with its target, critical toggle and control plane",
                 .json = "a drover.v1.ListChannelsResponse: {\"channels\": [Channel...]}",
                 .run = List});
  out.push_back({.words = {"channels", "show"},
                 .args_synopsis = "ID",
                 .min_args = 1,
                 .max_args = 1,
                 .summary = "show one channel: target, critical toggle, control plane, windows, poll interval",
                 .description = "ID is the channel id, e.g. stable/cloud.",
                 .json = "a drover.v1.Channel: {\"name\": \"channels/ID\", \"target_version\", \"critical\", "
                         "\"critical_reason\", \"control_plane_version\", \"maintenance_windows\", "
                         "\"poll_interval\", \"generation\", ...}",
                 .run = Show});
  out.push_back(
      {.words = {"channels", "create"},
       .args_synopsis = "ID",
       .min_args = 1,
       .max_args = 1,
       .summary = "create a channel",
       .description =
           "ID: lowercase letters, digits and \"-._/\", e.g. stable/cloud.\n"
           "The control-plane version is required: targets must be at or below it and at most one major\n"
           "version below it. Without --window updaters apply the target as soon as they see it.\n"
           "A window SPEC is \"<days> <HH:00> <duration>\" in UTC: days \"daily\" or e.g. \"mon,thu\" or\n"
           "\"mon-fri\"; duration whole minutes up to 24h, e.g. \"daily 02:00 1h\", \"mon,thu 22:00 90m\".",
       .json = "the created drover.v1.Channel (see 'droverctl help channels show')",
       .flags = {{"control-plane", "V", "version of the control plane (Auth/Proxy) the agents talk to", false, true},
                 {"target", "V", "initial target version (default: none)"},
                 {"follow-control-plane", "",
                  "the target is the control-plane version, always ('control-plane set' moves both), as Teleport's "
                  "stable/rolling"},
                 {"poll-interval", "DURATION",
                   absl::StrCat("how often updaters poll, ", absl::FormatDuration(kMinPollInterval), "..",
                                absl::FormatDuration(kMaxPollInterval), " (default 60s)")},
                 {"window", "SPEC", "a maintenance window", true}},
       .run = Create});
  out.push_back({.words = {"channels", "delete"},
                 .args_synopsis = "ID",
                 .min_args = 1,
                 .max_args = 1,
                 .summary = "delete a channel (refused while agents are in it, unless --force)",
                 .description = "With --force the channel's agents are forgotten too; their update history is kept.",
                 .json = "a drover.v1.DeleteChannelResponse: {\"agents_removed\": \"N\"}",
                 .flags = {{"force", "", "also forget the channel's agents (asks first on a terminal)"},
                           {"yes", "", "with --force: do not ask for confirmation"}},
                 .run = Delete});
  out.push_back({.words = {"channels", "history"},
                 .args_synopsis = "ID",
                 .min_args = 1,
                 .max_args = 1,
                 .summary = "what operators changed on a channel, newest first",
                 .description = "Also works for a deleted channel: its history is kept. Requests that changed\n"
                                "nothing are not recorded.",
                 .json = "a drover.v1.ListChannelChangesResponse with every change: {\"changes\": [{\"id\", "
                         "\"channel\", \"field\", \"old_value\", \"new_value\", \"actor\", \"change_time\"}...], "
                         "\"next_page_token\": \"\"} (with --limit, the newest N)",
                 .flags = {{"limit", "N", "only the newest N changes"}},
                 .run = History});
  return out;
}

}  // namespace drover::cli
