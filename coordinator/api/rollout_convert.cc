#include "coordinator/api/rollout_convert.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "coordinator/api/proto_convert.h"
#include "proto/wire/time.h"

namespace drover::api {
namespace {

absl::Status Field(absl::string_view field, const absl::Status& s) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat("policy.", field, ": ", s.message()));
}

// An amount's text, or the default when empty.
absl::StatusOr<rollout::Amount> AmountOr(absl::string_view field, const std::string& text,
                                         const rollout::Amount& fallback) {
  if (text.empty()) return fallback;
  absl::StatusOr<rollout::Amount> a = rollout::Amount::Parse(field, text);
  if (!a.ok()) return Field(field, a.status());
  return a;
}

absl::StatusOr<absl::Duration> DurationOr(absl::string_view field, const v1::RolloutPolicy& in,
                                          bool has, const google::protobuf::Duration& d,
                                          absl::Duration fallback) {
  if (!has) return fallback;
  if (d.seconds() < 0 || d.nanos() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("policy.", field, " is negative (",
                                                   absl::FormatDuration(wire::DurationFromProto(d)), ")"));
  }
  return wire::DurationFromProto(d);
}

}  // namespace

absl::StatusOr<rollout::RolloutPolicy> PolicyFromProto(const v1::RolloutPolicy& in) {
  const rollout::RolloutPolicy defaults;
  rollout::RolloutPolicy p;
  if (in.groups_size() > rollout::kMaxRolloutGroups) {
    return absl::InvalidArgumentError(absl::StrCat("policy.groups: ", in.groups_size(), " groups, at most ",
                                                   rollout::kMaxRolloutGroups));
  }
  for (int i = 0; i < in.groups_size(); ++i) {
    const v1::RolloutGroupSpec& g = in.groups(i);
    const std::string field = absl::StrCat("policy.groups[", i, "].name");
    if (g.name().empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is empty"));
    if (absl::Status s = ValidateGroup(field, g.name()); !s.ok()) return s;
    absl::StatusOr<std::vector<MaintenanceWindow>> windows =
        WindowsFromProto(absl::StrCat("policy.groups[", i, "].windows"), g.windows());
    if (!windows.ok()) return windows.status();
    p.groups.push_back({g.name(), *std::move(windows)});
  }
  if (in.catch_all().empty()) {
    p.catch_all = defaults.catch_all;
  } else {
    absl::StatusOr<rollout::CatchAll> c = rollout::ParseCatchAll(in.catch_all());
    if (!c.ok()) return Field("catch_all", c.status());
    p.catch_all = *c;
  }
  absl::StatusOr<rollout::Amount> a = AmountOr("canaries", in.canaries(), defaults.canaries);
  if (!a.ok()) return a.status();
  p.canaries = *a;
  if (a = AmountOr("canary_budget", in.canary_budget(), defaults.canary_budget); !a.ok()) return a.status();
  p.canary_budget = *a;
  if (a = AmountOr("group_budget", in.group_budget(), defaults.group_budget); !a.ok()) return a.status();
  p.group_budget = *a;
  p.done_percent = in.done_percent() == 0 ? defaults.done_percent : in.done_percent();
  absl::StatusOr<absl::Duration> d =
      DurationOr("bake_time", in, in.has_bake_time(), in.bake_time(), defaults.bake_time);
  if (!d.ok()) return d.status();
  p.bake_time = *d;
  if (d = DurationOr("canary_watch", in, in.has_canary_watch(), in.canary_watch(), defaults.canary_watch); !d.ok()) {
    return d.status();
  }
  p.canary_watch = *d;
  if (d = DurationOr("period", in, in.has_period(), in.period(), defaults.period); !d.ok()) return d.status();
  p.period = *d;
  if (d = DurationOr("silent_timeout", in, in.has_silent_timeout(), in.silent_timeout(), defaults.silent_timeout);
      !d.ok()) {
    return d.status();
  }
  p.silent_timeout = *d;
  if (in.max_in_flight() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("policy.max_in_flight is negative (", in.max_in_flight(), ")"));
  }
  if (in.max_per_period() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("policy.max_per_period is negative (", in.max_per_period(), ")"));
  }
  p.max_in_flight = in.max_in_flight();
  p.max_per_period = in.max_per_period();
  p.auto_rollback = in.auto_rollback();
  if (absl::Status s = p.Validate(); !s.ok()) return s;
  return p;
}

void PolicyToProto(const rollout::RolloutPolicy& policy, v1::RolloutPolicy* out) {
  out->Clear();
  for (const rollout::RolloutGroupSpec& g : policy.groups) {
    v1::RolloutGroupSpec* spec = out->add_groups();
    spec->set_name(g.name);
    WindowsToProto(g.windows, spec->mutable_windows());
  }
  out->set_catch_all(rollout::CatchAllName(policy.catch_all));
  out->set_canaries(policy.canaries.ToString());
  out->set_canary_budget(policy.canary_budget.ToString());
  out->set_group_budget(policy.group_budget.ToString());
  out->set_done_percent(policy.done_percent);
  wire::DurationToProto(policy.bake_time, out->mutable_bake_time());
  wire::DurationToProto(policy.canary_watch, out->mutable_canary_watch());
  out->set_max_in_flight(policy.max_in_flight);
  out->set_max_per_period(policy.max_per_period);
  wire::DurationToProto(policy.period, out->mutable_period());
  wire::DurationToProto(policy.silent_timeout, out->mutable_silent_timeout());
  out->set_auto_rollback(policy.auto_rollback);
}

void RolloutToProto(const store::RolloutStatusView& view, bool critical, absl::Time now, v1::Rollout* out) {
  const rollout::Rollout& r = view.rollout;
  out->set_channel(ChannelName(r.channel));
  out->set_id(r.id);
  out->set_start_version(r.start_version);
  out->set_target_version(r.target_version);
  out->set_state(rollout::RolloutStateName(r.state));
  out->set_reason(r.reason);
  wire::TimeToProto(r.created_at, out->mutable_created_at());
  wire::TimeToProto(r.state_since, out->mutable_state_since());
  out->set_skip_canaries(r.skip_canaries);
  out->set_force_reason(r.force_reason);
  out->set_generation(r.generation);
  out->set_hosts_outside(view.hosts_outside);
  PolicyToProto(view.policy, out->mutable_policy());
  for (size_t i = 0; i < r.groups.size(); ++i) {
    const rollout::GroupProgress& g = r.groups[i];
    v1::RolloutGroupStatus* gs = out->add_groups();
    gs->set_name(g.name);
    gs->set_state(rollout::GroupStateName(g.state));
    wire::TimeToProto(g.state_since, gs->mutable_state_since());
    if (g.started_at) wire::TimeToProto(*g.started_at, gs->mutable_started_at());
    if (g.bake_until) wire::TimeToProto(*g.bake_until, gs->mutable_bake_until());
    if (g.done_at) wire::TimeToProto(*g.done_at, gs->mutable_done_at());
    gs->set_reason(g.reason);
    if (i < view.groups.size()) {
      const store::GroupCounts& c = view.groups[i];
      gs->set_hosts(c.hosts);
      gs->set_present(c.present);
      gs->set_on_target(c.on_target);
      gs->set_on_target_healthy(c.on_target_healthy);
      gs->set_admitted(c.admitted);
      gs->set_canaries(c.canaries);
      gs->set_canaries_on_target_healthy(c.canaries_on_target_healthy);
      gs->set_in_flight(c.in_flight);
      gs->set_updating(c.updating);
      gs->set_failed(c.failed);
      gs->set_canaries_failed(c.canaries_failed);
      gs->set_budget(view.policy.group_budget.ToleratedOf(std::max(c.present, c.admitted)));
      gs->set_canary_budget(view.policy.canary_budget.ToleratedOf(c.canaries));
    }
  }
  if (std::optional<absl::Time> done = rollout::ForecastDone(r, view.policy, critical, now)) {
    wire::TimeToProto(*done, out->mutable_forecast_done());
  }
}

absl::StatusOr<rollout::OperatorAction> ParseOperatorAction(absl::string_view action) {
  for (rollout::OperatorAction a :
       {rollout::OperatorAction::kPause, rollout::OperatorAction::kResume, rollout::OperatorAction::kHalt,
        rollout::OperatorAction::kRollback, rollout::OperatorAction::kStartGroup, rollout::OperatorAction::kMarkDone,
        rollout::OperatorAction::kSkipCanaries}) {
    if (action == rollout::OperatorActionName(a)) return a;
  }
  return absl::InvalidArgumentError(absl::StrCat("action \"", absl::CHexEscape(action.substr(0, 64)),
                                                 "\" is not one of pause, resume, halt, rollback, start-group, "
                                                 "mark-done, skip-canaries"));
}

}  // namespace drover::api
