// droverctl windows set|clear: when a channel's updaters may apply updates.
#include "absl/strings/str_cat.h"
#include "cli/command.h"
#include "cli/parse.h"
#include "cli/views.h"

namespace drover::cli {
namespace {

Result SetWindows(const Invocation& inv, CommandContext& ctx, std::vector<v1::MaintenanceWindow> windows) {
  v1::SetMaintenanceWindowsRequest req;
  req.set_name(ChannelName(inv.args[0]));
  for (v1::MaintenanceWindow& w : windows) *req.add_maintenance_windows() = std::move(w);
  v1::Channel channel;
  grpc::Status s = ctx.client->SetMaintenanceWindows(req, &channel);
  if (!s.ok()) {
    return RpcFailure(s, absl::StrCat("set the maintenance windows of channel \"", inv.args[0], "\""),
                      ctx.client->address(),
                      s.error_code() == grpc::StatusCode::NOT_FOUND
                          ? "see 'droverctl channels list' for the channels that exist"
                          : "");
  }
  const std::string headline =
      channel.maintenance_windows().empty()
          ? absl::StrCat("Cleared the maintenance windows of channel ", inv.args[0],
                         ": updaters apply the target as soon as they see it.")
          : absl::StrCat("Set ", channel.maintenance_windows_size(), " maintenance window",
                         channel.maintenance_windows_size() == 1 ? "" : "s", " on channel ", inv.args[0], ".");
  return PrintChannel(ctx, channel, headline);
}

Result WindowsSet(const Invocation& inv, CommandContext& ctx) {
  absl::StatusOr<std::vector<v1::MaintenanceWindow>> windows =
      ParseWindowSpecs(std::vector<std::string>(inv.args.begin() + 1, inv.args.end()));
  if (!windows.ok()) return Result::Usage(std::string(windows.status().message()));
  return SetWindows(inv, ctx, *std::move(windows));
}

Result WindowsClear(const Invocation& inv, CommandContext& ctx) { return SetWindows(inv, ctx, {}); }

}  // namespace

std::vector<CommandSpec> WindowCommands() {
  const std::string channel_json = "the updated drover.v1.Channel (see 'droverctl help channels show')";
  std::vector<CommandSpec> out;
  out.push_back(
      {.words = {"windows", "set"},
       .args_synopsis = "ID SPEC...",
       .min_args = 2,
       .max_args = -1,
       .summary = "replace a channel's maintenance windows",
       .description =
           "Each SPEC is \"<days> <HH:00> <duration>\", all in UTC:\n"
           "  days      \"daily\", or weekday names and ranges joined by commas: \"mon,thu\", \"mon-fri\", \"sat,sun\"\n"
           "  HH:00     the whole hour the window opens, 00:00..23:00\n"
           "  duration  whole minutes from 1m to 24h: \"1h\", \"90m\", \"1h30m\"\n"
           "Quote each SPEC, e.g.: droverctl windows set stable/cloud \"daily 02:00 1h\" \"mon,thu 22:00 90m\"\n"
           "A bad SPEC is a usage error (exit 2) and nothing is sent.",
       .json = channel_json,
       .run = WindowsSet});
  out.push_back({.words = {"windows", "clear"},
                 .args_synopsis = "ID",
                 .min_args = 1,
                 .max_args = 1,
                 .summary = "remove a channel's maintenance windows: updaters apply the target at once",
                 .json = channel_json,
                 .run = WindowsClear});
  return out;
}

}  // namespace drover::cli
