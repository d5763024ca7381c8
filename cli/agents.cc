// droverctl agents list|show: the fleet, filtered and paged, and one agent
// with its update history.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "cli/command.h"
#include "cli/output.h"
#include "cli/parse.h"
#include "cli/views.h"
#include "common/api_limits.h"
#include "drover/droverctl/v1/output.pb.h"

namespace drover::cli {
namespace {

Result List(const Invocation& inv, CommandContext& ctx) {
  v1::ListAgentsRequest req;
  if (inv.Has("channel")) req.set_channel(ChannelName(inv.Get("channel")));
  req.set_version(inv.Get("version"));
  if (inv.Has("health")) {
    const std::string h = inv.Get("health");
    if (h == "healthy") {
      req.set_health(v1::HEALTH_HEALTHY);
    } else if (h == "unhealthy") {
      req.set_health(v1::HEALTH_UNHEALTHY);
    } else {
      return Result::Usage(absl::StrCat("--health=", h, " is not one of: healthy, unhealthy"));
    }
  }
  req.set_stale_only(inv.GetBool("stale"));
  req.set_out_of_policy_only(inv.GetBool("out-of-policy"));
  req.set_group(inv.Get("group"));
  req.set_instance_conflict_only(inv.GetBool("conflicts"));
  req.set_orphaned_only(inv.GetBool("orphaned"));
  if (inv.Has("last-result")) {
    const std::string r = inv.Get("last-result");
    if (r == "succeeded") {
      req.set_last_result(v1::UPDATE_RESULT_SUCCEEDED);
    } else if (r == "failed") {
      req.set_last_result(v1::UPDATE_RESULT_FAILED);
    } else if (r == "rolled-back") {
      req.set_last_result(v1::UPDATE_RESULT_ROLLED_BACK);
    } else {
      return Result::Usage(absl::StrCat("--last-result=", r, " is not one of: succeeded, failed, rolled-back"));
    }
  }
  req.set_page_token(inv.Get("page-token"));
  // --limit: one page of that size. Without it: every page from --page-token on.
  const bool one_page = inv.Has("limit");
  if (one_page) {
    absl::StatusOr<int64_t> limit = ParseCount("limit", inv.Get("limit"), 1, kMaxPageSize);
    if (!limit.ok()) return Result::Usage(std::string(limit.status().message()));
    req.set_page_size(static_cast<int32_t>(*limit));
  } else {
    req.set_page_size(kMaxPageSize);
  }

  v1::ListAgentsResponse all;
  for (;;) {
    v1::ListAgentsResponse page;
    grpc::Status s = ctx.client->ListAgents(req, &page);
    if (!s.ok()) {
      std::string hint;
      if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT && !req.page_token().empty()) {
        hint = "pass a --page-token printed by an earlier 'droverctl agents list --limit=N', or none to start over";
      }
      return RpcFailure(s, "list agents", ctx.client->address(), hint);
    }
    for (v1::Agent& a : *page.mutable_agents()) *all.add_agents() = std::move(a);
    if (one_page || page.next_page_token().empty()) {
      all.set_next_page_token(page.next_page_token());
      break;
    }
    req.set_page_token(page.next_page_token());
  }

  if (ctx.options.output == OutputFormat::kJson) {
    *ctx.out << ToJson(all) << "\n";
    return Result::Ok();
  }
  if (all.agents().empty()) {
    *ctx.out << (req.orphaned_only() ? "No host reports for a channel that does not exist.\n" : "No agents match.\n");
  } else {
    const absl::Time now = absl::Now();
    Table table({"HOST", "CHANNEL", "VERSION", "HEALTH", "LAST SEEN", "NOTES"});
    for (const v1::Agent& a : all.agents()) {
      std::vector<std::string> notes;
      if (a.orphaned()) notes.push_back("channel does not exist");
      if (!a.updating_to().empty()) notes.push_back(absl::StrCat("updating to ", a.updating_to()));
      if (a.stale()) notes.push_back("stale");
      if (a.out_of_policy()) notes.push_back("out of policy");
      if (a.instance_conflict()) notes.push_back("host id shared by two updaters (cloned?)");
      if (a.last_result() == v1::UPDATE_RESULT_FAILED || a.last_result() == v1::UPDATE_RESULT_ROLLED_BACK) {
        notes.push_back(absl::StrCat("update to ", a.last_result_version(), " ", ResultName(a.last_result())));
      }
      if (std::string note = ScheduleNote(a.schedule_state()); !note.empty()) notes.push_back(note);
      table.AddRow({a.host_id(), ChannelId(a.channel()), a.current_version(), HealthName(a.health()),
                    FormatAge(a.last_seen_time(), now), notes.empty() ? "" : absl::StrJoin(notes, ", ")});
    }
    *ctx.out << table.Render();
  }
  if (!all.next_page_token().empty()) {
    *ctx.out << "\nMore agents: repeat with --page-token=" << all.next_page_token() << "\n";
  }
  return Result::Ok();
}

Result Show(const Invocation& inv, CommandContext& ctx) {
  const std::string& host = inv.args[0];
  int64_t history = 10;
  if (inv.Has("history")) {
    absl::StatusOr<int64_t> n = ParseCount("history", inv.Get("history"), 0, kMaxPageSize);
    if (!n.ok()) return Result::Usage(std::string(n.status().message()));
    history = *n;
  }
  v1::GetAgentRequest req;
  req.set_host_id(host);
  v1::Agent agent;
  grpc::Status s = ctx.client->GetAgent(req, &agent);
  if (!s.ok()) {
    return RpcFailure(s, absl::StrCat("show agent \"", host, "\""), ctx.client->address(),
                      s.error_code() == grpc::StatusCode::NOT_FOUND
                          ? "see 'droverctl agents list' for the agents that have reported"
                          : "");
  }
  v1::ListUpdateEventsResponse events;
  if (history > 0) {
    v1::ListUpdateEventsRequest ev;
    ev.set_host_id(host);
    ev.set_page_size(static_cast<int32_t>(history));
    s = ctx.client->ListUpdateEvents(ev, &events);
    if (!s.ok()) return RpcFailure(s, absl::StrCat("list the update history of agent \"", host, "\""), ctx.client->address());
  }

  if (ctx.options.output == OutputFormat::kJson) {
    droverctl::v1::AgentDetails details;
    *details.mutable_agent() = agent;
    *details.mutable_events() = events.events();
    *ctx.out << ToJson(details) << "\n";
    return Result::Ok();
  }
  *ctx.out << RenderAgent(agent, absl::Now());
  if (history == 0) return Result::Ok();
  *ctx.out << "\n";
  if (events.events().empty()) {
    *ctx.out << "No update attempts recorded.\n";
    return Result::Ok();
  }
  *ctx.out << "Update history (newest first):\n";
  Table table({"FINISHED", "FROM", "TO", "RESULT", "ERROR"});
  for (const v1::UpdateEvent& e : events.events()) {
    const v1::UpdateOutcome& o = e.outcome();
    table.AddRow({FormatTime(o.has_finish_time() ? o.finish_time() : e.record_time()),
                  o.from_version().empty() ? "-" : o.from_version(), o.to_version(), ResultName(o.result()),
                  o.error().empty() ? "" : o.error()});
  }
  *ctx.out << table.Render();
  if (!events.next_page_token().empty()) *ctx.out << "(older attempts not shown; raise --history=N)\n";
  return Result::Ok();
}

Result Forget(const Invocation& inv, CommandContext& ctx) {
  const std::string& host = inv.args[0];
  if (!inv.GetBool("yes") && ctx.confirm &&
      !ctx.confirm(absl::StrCat("Forget agent ", host,
                                " (its stored state and sequence; its update history is kept)?"))) {
    return Result::Error(absl::StrCat("agent \"", host, "\" not forgotten: not confirmed (--yes skips the question)"));
  }
  v1::ForgetAgentRequest req;
  req.set_host_id(host);
  v1::ForgetAgentResponse resp;
  grpc::Status s = ctx.client->ForgetAgent(req, &resp);
  if (!s.ok()) {
    return RpcFailure(s, absl::StrCat("forget agent \"", host, "\""), ctx.client->address(),
                      s.error_code() == grpc::StatusCode::NOT_FOUND
                          ? "see 'droverctl agents list' (and --orphaned) for the hosts the coordinator holds"
                          : "");
  }
  if (ctx.options.output == OutputFormat::kJson) {
    *ctx.out << ToJson(resp) << "\n";
  } else if (resp.channel().empty()) {
    *ctx.out << "Forgot host " << host << " (it was reporting for a channel that does not exist).\n";
  } else {
    *ctx.out << "Forgot agent " << host << " of channel " << ChannelId(resp.channel()) << " (stored sequence "
             << resp.forgotten_sequence() << "); its next report starts afresh.\n";
  }
  return Result::Ok();
}

}  // namespace

std::vector<CommandSpec> AgentCommands() {
  std::vector<CommandSpec> out;
  out.push_back(
      {.words = {"agents", "list"},
       .summary = "list agents, filtered; every page unless --limit",
       .description =
           "Filters combine (all must match). Without --limit every matching agent is listed (paging\n"
           "through the coordinator as needed). With --limit=N one page of at most N agents is listed, and\n"
           "when more match, the --page-token to pass for the next page.",
       .json = "a drover.v1.ListAgentsResponse: {\"agents\": [{\"host_id\", \"channel\", \"group\", "
               "\"current_version\", \"health\", \"updater_version\", \"sequence\", \"first_seen_time\", "
               "\"last_seen_time\", \"stale\", \"out_of_policy\", \"out_of_policy_reason\", \"schedule_state\", "
               "\"instance_id\", \"instance_conflict\", \"last_result\", \"last_result_version\", \"orphaned\", "
               "\"updating_to\"}...], "
               "\"next_page_token\"}; without --limit it holds every matching agent and next_page_token is \"\"",
       .flags = {{"channel", "ID", "only agents of this channel"},
                 {"version", "V", "only agents running exactly this version"},
                 {"health", "healthy|unhealthy", "only agents in this health"},
                 {"stale", "", absl::StrCat("only agents silent for ", kStaleAfterPollIntervals, " poll intervals")},
                 {"out-of-policy", "", "only agents whose version breaks their channel's rules"},
                 {"group", "G", "only agents of this rollout group"},
                 {"last-result", "succeeded|failed|rolled-back", "only agents whose last update attempt ended so"},
                 {"conflicts", "", "only host ids reported by two updaters (cloned images)"},
                 {"orphaned", "", "instead of agents: hosts reporting for a channel that does not exist "
                                  "(seen in the last hour; with --channel, --group)"},
                 {"limit", "N", absl::StrCat("list one page of at most N agents (1..", kMaxPageSize, ")")},
                 {"page-token", "T", "start after the page that printed this token"}},
       .run = List});
  out.push_back({.words = {"agents", "show"},
                 .args_synopsis = "HOST_ID",
                 .min_args = 1,
                 .max_args = 1,
                 .summary = "one agent: version, health, last seen, and its latest update attempts",
                 .json = "{\"agent\": drover.v1.Agent, \"events\": [drover.v1.UpdateEvent: {\"id\", \"host_id\", "
                         "\"channel\", \"outcome\": {\"from_version\", \"to_version\", \"result\", \"error\", "
                         "\"start_time\", \"finish_time\"}, \"record_time\"}...]} (events newest first)",
                 .flags = {{"history", "N", absl::StrCat("how many update attempts to show, 0..", kMaxPageSize, " (default 10)")}},
                 .run = Show});
  out.push_back({.words = {"agents", "forget"},
                 .args_synopsis = "HOST_ID",
                 .min_args = 1,
                 .max_args = 1,
                 .summary = "forget what is stored about a host, so that its next report starts afresh (admin)",
                 .description =
                     "For a host whose stored sequence was pushed ahead (forged reports): its reports are then\n"
                     "refused as out of order. The host's update history is kept; it reappears with its next report.",
                 .json = "a drover.v1.ForgetAgentResponse: {\"channel\", \"forgotten_sequence\"}",
                 .flags = {{"yes", "", "do not ask for confirmation"}},
                 .run = Forget});
  return out;
}

}  // namespace drover::cli
