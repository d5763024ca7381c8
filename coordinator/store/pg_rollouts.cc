// PgStore: staged rollouts (rollout_store.h; tables of migration 000010).
//
// A rollout keeps the groups it started with (names and windows in
// rollout_groups, `ungrouped` when the policy had none): the policy the
// engine, GetTarget and status work with is the channel's current policy
// with the rollout's groups in place of its own (EffectivePolicy), so group
// indexes always match the rollout's groups.
//
// Which rollout group an agent belongs to is rollout::GroupIndexIn, a
// domain rule: it is evaluated here on the distinct group names the
// channel's agents report (few, read through an index), and the statements
// take the resulting (name, group index) lists as arrays.
#include "coordinator/store/pg_rollouts.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/maintenance_window.h"
#include "coordinator/rollout/staleness.h"
#include "coordinator/rollout/target_epoch.h"
#include "coordinator/store/pg_audit.h"
#include "coordinator/store/pg_notify.h"
#include "coordinator/store/pg_rows.h"
#include "coordinator/store/pg_store.h"
#include "coordinator/store/pg_values.h"
#include "coordinator/store/sql_files.h"

namespace drover::store {
namespace {

using rollout::Channel;
using rollout::GroupState;
using rollout::Rollout;
using rollout::RolloutPolicy;
using rollout::RolloutState;

// Times go to the statements as Unix microseconds; a time left unset
// (infinite) is stored as `fallback` (the step's time) rather than overflow.
int64_t Micros(absl::Time t, absl::Time fallback) {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) t = fallback;
  return store::ToUnixMicros(t);
}
std::optional<int64_t> Micros(const std::optional<absl::Time>& t, absl::Time fallback) {
  if (!t.has_value()) return std::nullopt;
  return Micros(*t, fallback);
}

std::string IntArray(const std::vector<int>& values) {
  ArrayLiteral out;
  for (int v : values) out.Add(static_cast<int64_t>(v));
  return std::move(out).Finish();
}

absl::Status NoRollout(const std::string& channel) {
  return absl::NotFoundError(
      absl::StrCat("channel \"", channel, "\" has no rollout yet: setting its target starts one"));
}

// A rollout as stored: the domain's view plus what only the store keeps.
struct StoredRollout {
  Rollout rollout;
  bool ungrouped = false;
  std::vector<std::vector<MaintenanceWindow>> windows;  // per group
};

absl::StatusOr<Rollout> RolloutFromRow(const pqxx::row& row) {
  Rollout r;
  r.id = row["id"].as<int64_t>();
  r.channel = row["channel"].as<std::string>();
  r.start_version = row["start_version"].as<std::string>();
  r.target_version = row["target_version"].as<std::string>();
  const int state = row["state"].as<int>();
  if (state < static_cast<int>(RolloutState::kActive) || state > static_cast<int>(RolloutState::kSuperseded)) {
    return absl::DataLossError(absl::StrCat("rollout ", r.id, ": unknown state ", state));
  }
  r.state = static_cast<RolloutState>(state);
  r.reason = row["reason"].as<std::string>();
  r.created_at = TimeColumn(row, "created_at_us");
  r.state_since = TimeColumn(row, "state_since_us");
  r.skip_canaries = row["skip_canaries"].as<bool>();
  r.force_reason = row["force_reason"].as<std::string>();
  r.resumed_at = OptionalTimeColumn(row, "resumed_at_us");
  r.generation = row["generation"].as<int64_t>();
  return r;
}

// The rollout `id` with its groups; NotFound when there is none. `lock`:
// FOR UPDATE (a step's write, or a channel edit superseding it).
absl::StatusOr<StoredRollout> ReadRollout(pqxx::transaction_base& tx, int64_t id, bool lock) {
  pqxx::result r = tx.exec_params(Sql(lock ? "staged_rollout_lock" : "staged_rollout_read"), id);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("rollout ", id, " not found"));
  StoredRollout out;
  absl::StatusOr<Rollout> rollout = RolloutFromRow(r[0]);
  if (!rollout.ok()) return rollout.status();
  out.rollout = *std::move(rollout);
  out.ungrouped = r[0]["ungrouped"].as<bool>();
  for (const pqxx::row& row : tx.exec_params(Sql("staged_rollout_groups"), id)) {
    rollout::GroupProgress g;
    g.name = row["name"].as<std::string>();
    const int state = row["state"].as<int>();
    if (state < static_cast<int>(GroupState::kUnstarted) || state > static_cast<int>(GroupState::kRolledBack)) {
      return absl::DataLossError(absl::StrCat("rollout ", id, ", group \"", g.name, "\": unknown state ", state));
    }
    g.state = static_cast<GroupState>(state);
    g.state_since = TimeColumn(row, "state_since_us");
    g.started_at = OptionalTimeColumn(row, "started_at_us");
    g.bake_until = OptionalTimeColumn(row, "bake_until_us");
    g.done_at = OptionalTimeColumn(row, "done_at_us");
    g.reason = row["reason"].as<std::string>();
    absl::StatusOr<std::vector<MaintenanceWindow>> windows = DecodeWindows(row["windows"].as<std::string>());
    if (!windows.ok()) {
      return absl::DataLossError(
          absl::StrCat("rollout ", id, ", group \"", g.name, "\": ", windows.status().message()));
    }
    out.rollout.groups.push_back(std::move(g));
    out.windows.push_back(*std::move(windows));
  }
  if (out.rollout.groups.empty()) return absl::DataLossError(absl::StrCat("rollout ", id, " has no groups"));
  return out;
}

// The channel's policy with the rollout's groups (see the file comment).
RolloutPolicy EffectivePolicy(RolloutPolicy policy, const StoredRollout& r);

// A channel's current rollout, read in `tx` with the channel and the policy
// in effect for it (EffectivePolicy). NotFound for an unknown channel or one
// without a rollout yet.
struct CurrentRollout {
  Channel channel;
  Rollout rollout;
  RolloutPolicy policy;
};
absl::StatusOr<CurrentRollout> ReadCurrentRollout(pqxx::transaction_base& tx, const std::string& channel) {
  pqxx::result cr = tx.exec_params(Sql("channel_read"), channel);
  if (cr.empty()) return ChannelNotFound(channel);
  absl::StatusOr<Channel> ch = ChannelFromRow(cr[0]);
  if (!ch.ok()) return ch.status();
  if (ch->rollout_id == 0) return NoRollout(channel);
  absl::StatusOr<StoredRollout> stored = ReadRollout(tx, ch->rollout_id, /*lock=*/false);
  if (!stored.ok()) return stored.status();
  absl::StatusOr<RolloutPolicy> policy = ReadRolloutPolicy(tx, channel);
  if (!policy.ok()) return policy.status();
  CurrentRollout out;
  out.policy = EffectivePolicy(*std::move(policy), *stored);
  out.rollout = std::move(stored->rollout);
  out.channel = *std::move(ch);
  return out;
}

RolloutPolicy EffectivePolicy(RolloutPolicy policy, const StoredRollout& r) {
  policy.groups.clear();
  if (r.ungrouped) return policy;
  for (size_t i = 0; i < r.rollout.groups.size(); ++i) {
    policy.groups.push_back({r.rollout.groups[i].name, r.windows[i]});
  }
  return policy;
}

// The group names a channel's agents report, each with its rollout group
// index under `policy` (-1: in none, the catch-all being off), as the
// array literals the statements take.
struct GroupMap {
  std::string names;
  std::string indexes;
};

GroupMap ReadGroupMap(pqxx::transaction_base& tx, const std::string& channel, const Rollout& r,
                      const RolloutPolicy& policy, bool citus) {
  ArrayLiteral names, indexes;
  for (const pqxx::row& row :
       tx.exec_params(Sql(citus ? "citus_staged_agent_group_names" : "staged_agent_group_names"), channel)) {
    const std::string name = row["name"].as<std::string>();
    const std::optional<int> index = rollout::GroupIndexIn(r, policy, name);
    names.Add(name);
    indexes.Add(static_cast<int64_t>(index.value_or(-1)));
  }
  return {std::move(names).Finish(), std::move(indexes).Finish()};
}

// How a policy reads in the audit trail and the channel's history.
std::string PolicyText(const RolloutPolicy& p) {
  std::vector<std::string> groups;
  for (const rollout::RolloutGroupSpec& g : p.groups) {
    std::string text = g.name;
    if (!g.windows.empty()) {
      std::vector<std::string> windows;
      for (const MaintenanceWindow& w : g.windows) windows.push_back(w.ToString());
      absl::StrAppend(&text, " (", absl::StrJoin(windows, ", "), ")");
    }
    groups.push_back(std::move(text));
  }
  return absl::StrCat("groups=", groups.empty() ? "none" : absl::StrJoin(groups, ","),
                      " catch_all=", rollout::CatchAllName(p.catch_all), " canaries=", p.canaries.ToString(),
                      " canary_budget=", p.canary_budget.ToString(), " group_budget=", p.group_budget.ToString(),
                      " done_percent=", p.done_percent, " bake_time=", absl::FormatDuration(p.bake_time),
                      " canary_watch=", absl::FormatDuration(p.canary_watch),
                      " max_in_flight=", p.max_in_flight, " max_per_period=", p.max_per_period,
                      " period=", absl::FormatDuration(p.period),
                      " silent_timeout=", absl::FormatDuration(p.silent_timeout),
                      " auto_rollback=", p.auto_rollback ? "true" : "false");
}

// What the channel's signed answer says while `state` is the state of its
// current rollout.
Channel::RolloutMode ModeOf(RolloutState state) {
  if (rollout::IsLive(state)) return Channel::RolloutMode::kHolding;
  if (state == RolloutState::kRolledBack) return Channel::RolloutMode::kRolledBack;
  return Channel::RolloutMode::kNone;
}

void WriteGroups(pqxx::transaction_base& tx, const Rollout& r, const std::vector<std::string>& windows,
                 absl::Time now) {
  for (size_t i = 0; i < r.groups.size(); ++i) {
    const rollout::GroupProgress& g = r.groups[i];
    tx.exec_params0(Sql("staged_group_upsert"), r.id, static_cast<int>(i), g.name, static_cast<int>(g.state),
                    Micros(g.state_since, now), Micros(g.started_at, now), Micros(g.bake_until, now),
                    Micros(g.done_at, now), g.reason, i < windows.size() ? windows[i] : std::string());
  }
}

}  // namespace

absl::StatusOr<RolloutPolicy> ReadRolloutPolicy(pqxx::transaction_base& tx, const std::string& channel) {
  RolloutPolicy p;
  pqxx::result r = tx.exec_params(Sql("staged_policy_read"), channel);
  if (r.empty()) return p;
  const pqxx::row& row = r[0];
  auto corrupt = [&](absl::string_view what) {
    return absl::DataLossError(absl::StrCat("rollout policy of channel \"", channel, "\": ", what));
  };
  const int catch_all = row["catch_all"].as<int>();
  if (catch_all != static_cast<int>(rollout::CatchAll::kLastGroup) &&
      catch_all != static_cast<int>(rollout::CatchAll::kOff)) {
    return corrupt(absl::StrCat("unknown catch-all ", catch_all));
  }
  p.catch_all = static_cast<rollout::CatchAll>(catch_all);
  for (auto [column, amount] : {std::pair<const char*, rollout::Amount*>{"canaries", &p.canaries},
                                {"canary_budget", &p.canary_budget},
                                {"group_budget", &p.group_budget}}) {
    absl::StatusOr<rollout::Amount> parsed = rollout::Amount::Parse(column, row[column].as<std::string>());
    if (!parsed.ok()) return corrupt(parsed.status().message());
    *amount = *parsed;
  }
  p.done_percent = row["done_percent"].as<double>();
  p.bake_time = absl::Milliseconds(row["bake_ms"].as<int64_t>());
  p.canary_watch = absl::Milliseconds(row["canary_watch_ms"].as<int64_t>());
  p.max_in_flight = row["max_in_flight"].as<int64_t>();
  p.max_per_period = row["max_per_period"].as<int64_t>();
  p.period = absl::Milliseconds(row["period_ms"].as<int64_t>());
  p.silent_timeout = absl::Milliseconds(row["silent_timeout_ms"].as<int64_t>());
  p.auto_rollback = row["auto_rollback"].as<bool>();
  for (const pqxx::row& g : tx.exec_params(Sql("staged_policy_groups"), channel)) {
    rollout::RolloutGroupSpec spec;
    spec.name = g["name"].as<std::string>();
    absl::StatusOr<std::vector<MaintenanceWindow>> windows = DecodeWindows(g["windows"].as<std::string>());
    if (!windows.ok()) return corrupt(absl::StrCat("group \"", spec.name, "\": ", windows.status().message()));
    spec.windows = *std::move(windows);
    p.groups.push_back(std::move(spec));
  }
  return p;
}

absl::StatusOr<Channel> ApplyRolloutChanges(pqxx::transaction_base& tx, const Channel& before, const Channel& after,
                                            const std::vector<rollout::ChannelChange>& changes, absl::Time now) {
  const auto starter =
      std::find_if(changes.begin(), changes.end(), [](const rollout::ChannelChange& c) { return c.starts_rollout; });
  const bool start = starter != changes.end() && after.target_version.has_value();
  const bool cleared = !start && rollout::StartsTargetEpoch(changes) && !after.target_version.has_value();
  if (!start && !cleared) return after;

  std::optional<StoredRollout> previous;
  if (before.rollout_id != 0) {
    absl::StatusOr<StoredRollout> read = ReadRollout(tx, before.rollout_id, /*lock=*/true);
    if (!read.ok()) return read.status();
    previous = *std::move(read);
  }
  auto supersede = [&](const std::string& reason) {
    if (previous.has_value()) {
      tx.exec_params0(Sql("staged_rollout_supersede"), previous->rollout.id, reason, store::ToUnixMicros(now));
    }
  };

  pqxx::result row;
  if (start) {
    absl::StatusOr<RolloutPolicy> policy = ReadRolloutPolicy(tx, after.id);
    if (!policy.ok()) return policy.status();
    Rollout r = rollout::StartRollout(after.id, before.target_version.value_or(""),
                                      previous.has_value() ? std::optional<Rollout>(previous->rollout) : std::nullopt,
                                      *after.target_version, *policy, starter->rollout_skip_canaries,
                                      starter->rollout_force_reason, now);
    const pqxx::row inserted = tx.exec_params1(
        Sql("staged_rollout_insert"), after.id, r.start_version, r.target_version, static_cast<int>(r.state), r.reason,
        Micros(r.created_at, now), Micros(r.state_since, now), r.skip_canaries, r.force_reason, policy->groups.empty());
    r.id = inserted["id"].as<int64_t>();
    std::vector<std::string> windows;
    for (const rollout::RolloutGroupSpec& g : policy->groups) windows.push_back(EncodeWindows(g.windows));
    WriteGroups(tx, r, windows, now);
    supersede(absl::StrCat("superseded by rollout ", r.id, " to ", r.target_version));
    // Hosts not let in are held on the start version, even an empty one
    // (then they are told nothing to install until they are let in); a
    // rollout with nothing to stage (done at once) holds nobody.
    row =
        tx.exec_params(Sql("staged_channel_start"), after.id, r.id, r.start_version, static_cast<int>(ModeOf(r.state)));
  } else {
    supersede("superseded: the target was cleared");
    row = tx.exec_params(Sql("staged_channel_start"), after.id, previous.has_value() ? previous->rollout.id : 0,
                         std::string(), static_cast<int>(Channel::RolloutMode::kNone));
  }
  if (row.empty()) return ChannelNotFound(after.id);
  return ChannelFromRow(row[0]);
}

absl::StatusOr<RolloutPolicy> PgStore::GetPolicy(const std::string& channel) {
  return pool_.Run<RolloutPolicy>("reading rollout policy", [&](pqxx::connection& c) -> absl::StatusOr<RolloutPolicy> {
    pqxx::read_transaction tx(c);
    if (tx.exec_params(Sql("channel_exists"), channel).empty()) return ChannelNotFound(channel);
    return ReadRolloutPolicy(tx, channel);
  });
}

absl::Status PgStore::SetPolicy(const std::string& channel, const RolloutPolicy& policy, const AuditRecord* audit) {
  // The caller validated it; checked again so that nothing invalid is stored.
  if (absl::Status s = policy.Validate(); !s.ok()) return s;
  return pool_
      .Run<bool>("writing rollout policy",
                 [&](pqxx::connection& c) -> absl::StatusOr<bool> {
                   pqxx::work tx(c);
                   // Locked as for a channel edit: a target change starting a
                   // rollout reads the policy as it is after this.
                   if (tx.exec_params(Sql("channel_read_for_edit"), channel).empty()) return ChannelNotFound(channel);
                   absl::StatusOr<RolloutPolicy> old = ReadRolloutPolicy(tx, channel);
                   // A policy stored corrupt is replaced, not kept forever.
                   const std::string old_text = old.ok() ? PolicyText(*old) : "unreadable";
                   tx.exec_params0(Sql("staged_policy_upsert"), channel, static_cast<int>(policy.catch_all),
                                   policy.canaries.ToString(), policy.canary_budget.ToString(),
                                   policy.group_budget.ToString(), policy.done_percent, Millis(policy.bake_time),
                                   policy.max_in_flight, policy.max_per_period, Millis(policy.period),
                                   Millis(policy.silent_timeout), policy.auto_rollback,
                                   Millis(policy.canary_watch), kNowParameter);
                   // Without groups every host is in the one group: nobody is off.
                   const bool off = policy.catch_all == rollout::CatchAll::kOff && !policy.groups.empty();
                   std::vector<std::string> listed;
                   if (off) {
                     for (const rollout::RolloutGroupSpec& g : policy.groups) listed.push_back(g.name);
                   }
                   tx.exec_params0(Sql("staged_channel_catch_all"), channel, off, absl::StrJoin(listed, ","));
                   tx.exec_params0(Sql("staged_policy_groups_clear"), channel);
                   std::vector<std::string> names, windows;
                   for (const rollout::RolloutGroupSpec& g : policy.groups) {
                     names.push_back(g.name);
                     windows.push_back(EncodeWindows(g.windows));
                   }
                   tx.exec_params0(Sql("staged_policy_groups_insert"), channel, TextArray(names), TextArray(windows));
                   const std::string new_text = PolicyText(policy);
                   tx.exec_params0(Sql("channel_change_insert"), channel, "rollout_policy", old_text, new_text,
                                   audit != nullptr ? audit->actor : "");
                   if (audit != nullptr) {
                     AuditRecord a = *audit;
                     if (a.object.empty()) a.object = absl::StrCat("channels/", channel);
                     if (a.old_value.empty()) a.old_value = old_text;
                     if (a.new_value.empty()) a.new_value = new_text;
                     InsertAuditEvent(tx, a);
                   }
                   NotifyChannelChanged(tx, channel);
                   tx.commit();
                   return true;
                 })
      .status();
}

absl::StatusOr<std::optional<Rollout>> PgStore::GetCurrentRollout(const std::string& channel) {
  return pool_.Run<std::optional<Rollout>>(
      "reading rollout", [&](pqxx::connection& c) -> absl::StatusOr<std::optional<Rollout>> {
        pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::read_only> tx(c);
        pqxx::result r = tx.exec_params(Sql("channel_read"), channel);
        if (r.empty()) return ChannelNotFound(channel);
        const int64_t id = r[0]["rollout_id"].as<int64_t>();
        if (id == 0) return std::optional<Rollout>();
        absl::StatusOr<StoredRollout> stored = ReadRollout(tx, id, /*lock=*/false);
        if (!stored.ok()) return stored.status();
        return std::optional<Rollout>(std::move(stored->rollout));
      });
}

absl::StatusOr<std::vector<std::string>> PgStore::ChannelsWithLiveRollouts() {
  return pool_.Run<std::vector<std::string>>("listing live rollouts",
                                             [&](pqxx::connection& c) -> absl::StatusOr<std::vector<std::string>> {
                                               pqxx::read_transaction tx(c);
                                               std::vector<std::string> out;
                                               for (const pqxx::row& row : tx.exec(Sql("staged_live_channels")))
                                                 out.push_back(row["name"].as<std::string>());
                                               return out;
                                             });
}

absl::StatusOr<rollout::StepInputs> PgStore::LoadStepInputs(const std::string& channel, int64_t candidates,
                                                            absl::Time now) {
  absl::StatusOr<bool> citus = UsesCitus();
  if (!citus.ok()) return citus.status();
  return pool_.Run<rollout::StepInputs>(
      "reading rollout step inputs", [&](pqxx::connection& c) -> absl::StatusOr<rollout::StepInputs> {
        // One snapshot: the counts, the admissions and the samples agree.
        pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::read_only> tx(c);
        absl::StatusOr<CurrentRollout> current = ReadCurrentRollout(tx, channel);
        if (!current.ok()) return current.status();
        const Channel* ch = &current->channel;

        rollout::StepInputs in;
        in.policy = std::move(current->policy);
        in.rollout = std::move(current->rollout);
        in.critical = ch->critical;
        in.stale_after = rollout::StaleAfter(*ch);
        in.now = now;
        const int groups = static_cast<int>(in.rollout.groups.size());
        in.groups.resize(groups);
        const std::string& target = in.rollout.target_version;
        const int64_t cutoff = store::ToUnixMicros(rollout::StaleCutoff(ch->poll_interval, now));
        const GroupMap map = ReadGroupMap(tx, channel, in.rollout, in.policy, *citus);

        for (const pqxx::row& row :
             tx.exec_params(Sql("staged_group_agent_counts"), channel, map.names, map.indexes, cutoff, target)) {
          const int idx = row["idx"].as<int>();
          if (idx < 0 || idx >= groups) continue;  // in no group (catch-all off)
          in.groups[idx].hosts = row["hosts"].as<int64_t>();
          in.groups[idx].present = row["present"].as<int64_t>();
          in.groups[idx].present_on_target_healthy = row["present_on_target_healthy"].as<int64_t>();
        }
        for (const pqxx::row& row : tx.exec_params(Sql("staged_hosts_admitted"), in.rollout.id, channel, target)) {
          rollout::AdmittedHost h;
          h.host_id = row["host_id"].as<std::string>();
          h.group = row["position"].as<int>();
          if (h.group < 0 || h.group >= groups) {
            return absl::DataLossError(absl::StrCat("rollout ", in.rollout.id, ": host \"", h.host_id,
                                                    "\" was let into group ", h.group, ", which it does not have"));
          }
          h.canary = row["canary"].as<bool>();
          h.admitted_at = TimeColumn(row, "admitted_at_us");
          h.current_version = row["current_version"].as<std::string>();
          h.health = static_cast<rollout::Health>(row["health"].as<int>());
          h.last_seen = TimeColumn(row, "last_seen_us");
          h.reported_failure = row["reported_failure"].as<bool>();
          h.reported_error = row["reported_error"].as<std::string>();
          h.failed = row["failed"].as<bool>();
          h.failure = row["failure"].as<std::string>();
          h.failed_at = OptionalTimeColumn(row, "failed_at_us");
          in.groups[h.group].admitted.push_back(std::move(h));
        }

        // Samples only for the groups a step can let hosts into now: those
        // under way and the next to start. A rollout that is not live lets
        // nobody in.
        std::vector<int> wanted;
        if (rollout::IsLive(in.rollout.state)) {
          bool next_unstarted = true;
          for (int i = 0; i < groups; ++i) {
            const GroupState s = in.rollout.groups[i].state;
            if (s == GroupState::kCanary || s == GroupState::kActive || s == GroupState::kBaking) {
              wanted.push_back(i);
            } else if (s == GroupState::kUnstarted && next_unstarted) {
              wanted.push_back(i);
              next_unstarted = false;
            }
          }
        }
        if (!wanted.empty() && candidates > 0) {
          // On Citus one group per statement (sql/citus_staged_*.sql).
          std::vector<std::string> asks;
          if (*citus) {
            for (int idx : wanted) asks.push_back(absl::StrCat(idx));
          } else {
            asks.push_back(IntArray(wanted));
          }
          for (const std::string& ask : asks) {
            for (const pqxx::row& row :
                 tx.exec_params(Sql(*citus ? "citus_staged_canary_candidates" : "staged_canary_candidates"), channel,
                                map.names, map.indexes, cutoff, in.rollout.id, candidates, ask)) {
              in.groups[row["idx"].as<int>()].canary_candidates.push_back(row["host_id"].as<std::string>());
            }
            for (const pqxx::row& row :
                 tx.exec_params(Sql(*citus ? "citus_staged_waiting_hosts" : "staged_waiting_hosts"), channel,
                                map.names, map.indexes, cutoff, in.rollout.id, candidates, ask)) {
              in.groups[row["idx"].as<int>()].waiting.push_back(row["host_id"].as<std::string>());
            }
          }
        }
        in.admitted_in_period = tx.exec_params1(Sql("staged_hosts_in_period"), in.rollout.id,
                                                store::ToUnixMicros(now - in.policy.period))["hosts"]
                                    .as<int64_t>();
        return in;
      });
}

absl::StatusOr<int64_t> PgStore::SaveStep(const rollout::StepResult& result, absl::Time now, const AuditRecord* audit) {
  const Rollout& r = result.rollout;
  // A lost race is reported as Aborted after Run, which would otherwise retry
  // it (the stored generation only moves further away).
  struct Saved {
    bool conflict = false;
    int64_t generation = 0;
  };
  absl::StatusOr<Saved> saved =
      pool_.Run<Saved>("writing rollout step", [&](pqxx::connection& c) -> absl::StatusOr<Saved> {
        pqxx::work tx(c);
        // The channel first, then the rollout: the order a target change takes
        // them in (UpdateChannel), so the two never deadlock.
        pqxx::result cr = tx.exec_params(Sql("channel_read_for_edit"), r.channel);
        if (cr.empty()) return ChannelNotFound(r.channel);
        absl::StatusOr<Channel> ch = ChannelFromRow(cr[0]);
        if (!ch.ok()) return ch.status();
        absl::StatusOr<StoredRollout> stored = ReadRollout(tx, r.id, /*lock=*/true);
        if (!stored.ok()) return stored.status();
        if (stored->rollout.channel != r.channel) {
          return absl::InvalidArgumentError(absl::StrCat("rollout ", r.id, " belongs to channel \"",
                                                         stored->rollout.channel, "\", not \"", r.channel, "\""));
        }
        if (stored->rollout.generation != r.generation) return Saved{.conflict = true};
        const int groups = static_cast<int>(stored->rollout.groups.size());
        if (static_cast<int>(r.groups.size()) != groups) {
          return absl::InvalidArgumentError(
              absl::StrCat("rollout ", r.id, " has ", groups, " groups, the step wrote ", r.groups.size()));
        }
        pqxx::result updated =
            tx.exec_params(Sql("staged_rollout_update"), r.id, r.generation, static_cast<int>(r.state), r.reason,
                           Micros(r.state_since, now), r.skip_canaries, r.force_reason, Micros(r.resumed_at, now));
        if (updated.empty()) return Saved{.conflict = true};
        const int64_t generation = updated[0]["generation"].as<int64_t>();
        WriteGroups(tx, r, {}, now);
        const int64_t at = store::ToUnixMicros(now);

        if (!result.admit.empty()) {
          ArrayLiteral hosts, positions, canaries;
          absl::flat_hash_set<std::string> seen;
          for (const rollout::Admission& a : result.admit) {
            if (a.group < 0 || a.group >= groups) {
              return absl::InvalidArgumentError(absl::StrCat("rollout ", r.id, ": host \"", a.host_id,
                                                             "\" let into group ", a.group, " of ", groups));
            }
            // One row per host: a statement may not upsert a row twice.
            if (!seen.insert(a.host_id).second) continue;
            hosts.Add(a.host_id);
            positions.Add(static_cast<int64_t>(a.group));
            canaries.Add(a.canary ? "t" : "f");
          }
          tx.exec_params0(Sql("staged_hosts_admit"), r.id, std::move(hosts).Finish(), std::move(positions).Finish(),
                          std::move(canaries).Finish(), at);
        }
        if (!result.withdraw.empty()) {
          tx.exec_params0(Sql("staged_hosts_withdraw"), r.id, TextArray(result.withdraw), at);
        }
        if (result.withdraw_not_updated) {
          tx.exec_params0(Sql("staged_hosts_withdraw_not_updated"), r.id, stored->rollout.target_version, at);
        }
        if (!result.failed.empty()) {
          ArrayLiteral hosts, failures;
          for (const rollout::FailureMark& f : result.failed) {
            hosts.Add(f.host_id);
            failures.Add(f.failure);
          }
          tx.exec_params0(Sql("staged_hosts_fail"), r.id, std::move(hosts).Finish(), std::move(failures).Finish(), at);
        }
        // Only the channel's current rollout speaks for it. Its versions are
        // fixed at its start: the stored ones, whatever the step carries.
        if (ch->rollout_id == r.id) {
          tx.exec_params0(Sql("staged_channel_mode"), r.channel, r.id, stored->rollout.start_version,
                          static_cast<int>(ModeOf(r.state)));
        }
        if (audit != nullptr) {
          AuditRecord a = *audit;
          if (a.object.empty()) a.object = absl::StrCat("channels/", r.channel, "/rollouts/", r.id);
          if (a.old_value.empty())
            a.old_value = absl::StrCat("state=", rollout::RolloutStateName(stored->rollout.state));
          if (a.new_value.empty()) {
            a.new_value = absl::StrCat("state=", rollout::RolloutStateName(r.state));
            if (!result.events.empty()) absl::StrAppend(&a.new_value, ": ", absl::StrJoin(result.events, "; "));
          }
          InsertAuditEvent(tx, a);
        }
        NotifyChannelChanged(tx, r.channel);
        tx.commit();
        return Saved{.generation = generation};
      });
  if (!saved.ok()) return saved.status();
  if (saved->conflict) {
    return absl::AbortedError(
        absl::StrCat("rollout ", r.id, " of channel \"", r.channel, "\" was advanced by another replica"));
  }
  return saved->generation;
}

absl::StatusOr<RolloutSnapshot> PgStore::GetSnapshot(const std::string& channel) {
  return pool_.Run<RolloutSnapshot>("reading rollout", [&](pqxx::connection& c) -> absl::StatusOr<RolloutSnapshot> {
    pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::read_only> tx(c);
    pqxx::result cr = tx.exec_params(Sql("channel_read"), channel);
    if (cr.empty()) return ChannelNotFound(channel);
    const int64_t id = cr[0]["rollout_id"].as<int64_t>();
    if (id == 0) {
      // No rollout yet: only the policy (its catch-all) matters.
      absl::StatusOr<RolloutPolicy> policy = ReadRolloutPolicy(tx, channel);
      if (!policy.ok()) return policy.status();
      RolloutSnapshot out;
      out.policy = *std::move(policy);
      return out;
    }
    absl::StatusOr<StoredRollout> stored = ReadRollout(tx, id, /*lock=*/false);
    if (!stored.ok()) return stored.status();
    absl::StatusOr<RolloutPolicy> policy = ReadRolloutPolicy(tx, channel);
    if (!policy.ok()) return policy.status();
    RolloutSnapshot out;
    // A live rollout keeps its own groups; once it is over, the policy as it
    // is now decides (which groups are listed when the catch-all is off).
    const bool live = rollout::IsLive(stored->rollout.state) || stored->rollout.state == RolloutState::kRolledBack;
    out.policy = live ? EffectivePolicy(*std::move(policy), *stored) : *std::move(policy);
    out.rollout = std::move(stored->rollout);
    for (const pqxx::row& row : tx.exec_params(Sql("staged_hosts_admitted_ids"), id)) {
      out.admitted.insert(row["host_id"].as<std::string>());
    }
    return out;
  });
}

absl::StatusOr<RolloutStatusView> PgStore::GetRolloutStatus(const std::string& channel, absl::Time now) {
  absl::StatusOr<bool> citus = UsesCitus();
  if (!citus.ok()) return citus.status();
  return pool_.Run<RolloutStatusView>(
      "reading rollout status", [&](pqxx::connection& c) -> absl::StatusOr<RolloutStatusView> {
        pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::read_only> tx(c);
        absl::StatusOr<CurrentRollout> current = ReadCurrentRollout(tx, channel);
        if (!current.ok()) return current.status();
        const Channel* ch = &current->channel;
        RolloutStatusView out;
        out.policy = std::move(current->policy);
        out.rollout = std::move(current->rollout);
        const int groups = static_cast<int>(out.rollout.groups.size());
        out.groups.resize(groups);
        const std::string& target = out.rollout.target_version;
        const GroupMap map = ReadGroupMap(tx, channel, out.rollout, out.policy, *citus);
        const int64_t cutoff = store::ToUnixMicros(rollout::StaleCutoff(ch->poll_interval, now));
        for (const pqxx::row& row :
             tx.exec_params(Sql("staged_group_agent_counts"), channel, map.names, map.indexes, cutoff, target)) {
          const int idx = row["idx"].as<int>();
          if (idx < 0 || idx >= groups) {
            out.hosts_outside += row["hosts"].as<int64_t>();
            continue;
          }
          GroupCounts& g = out.groups[idx];
          g.hosts = row["hosts"].as<int64_t>();
          g.present = row["present"].as<int64_t>();
          g.on_target = row["on_target"].as<int64_t>();
          g.on_target_healthy = row["on_target_healthy"].as<int64_t>();
          g.updating = row["updating"].as<int64_t>();
        }
        for (const pqxx::row& row : tx.exec_params(Sql("staged_group_host_counts"), out.rollout.id, channel, target)) {
          const int position = row["position"].as<int>();
          if (position < 0 || position >= groups) continue;
          GroupCounts& g = out.groups[position];
          g.admitted = row["admitted"].as<int64_t>();
          g.canaries = row["canaries"].as<int64_t>();
          g.canaries_on_target_healthy = row["canaries_on_target_healthy"].as<int64_t>();
          g.in_flight = row["in_flight"].as<int64_t>();
          g.failed = row["failed"].as<int64_t>();
          g.canaries_failed = row["canaries_failed"].as<int64_t>();
        }
        return out;
      });
}

}  // namespace drover::store
