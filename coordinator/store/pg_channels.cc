// PgStore: channels and their audit trail.
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/rollout/channel_rules.h"
#include "coordinator/rollout/target_epoch.h"
#include "coordinator/store/pg_audit.h"
#include "coordinator/store/pg_notify.h"
#include "coordinator/store/pg_rollouts.h"
#include "coordinator/store/pg_rows.h"
#include "coordinator/store/pg_store.h"
#include "coordinator/store/pg_values.h"
#include "coordinator/store/sql_files.h"

namespace drover::store {
namespace {

using rollout::Channel;

// How a channel row is locked while read (see sql/channel_read_for_edit.sql).
enum class Lock { kNone, kEdit, kDelete };

absl::StatusOr<Channel> ReadChannel(pqxx::transaction_base& tx, const std::string& id, Lock lock) {
  pqxx::result r = tx.exec_params(Sql(lock == Lock::kEdit     ? "channel_read_for_edit"
                                      : lock == Lock::kDelete ? "channel_read_for_delete"
                                                              : "channel_read"),
                                  id);
  if (r.empty()) return ChannelNotFound(id);
  return ChannelFromRow(r[0]);
}

// The channel's own history (ListChannelChanges) and, when the request has
// one, its audit record: both in the transaction of the change. The history
// keeps one row per field for `channels history`; the audit row is the whole
// request, with every field it changed.
void RecordChanges(pqxx::transaction_base& tx, const std::vector<ChannelChange>& changes, const AuditRecord* audit) {
  const std::string actor = audit != nullptr ? audit->actor : "";
  std::string old_values, new_values;
  for (const ChannelChange& c : changes) {
    tx.exec_params0(Sql("channel_change_insert"), c.channel, c.field, c.old_value, c.new_value,
                    c.actor.empty() ? actor : c.actor);
    const char* sep = old_values.empty() && new_values.empty() ? "" : "; ";
    absl::StrAppend(&old_values, sep, c.field, "=", c.old_value);
    absl::StrAppend(&new_values, sep, c.field, "=", c.new_value);
  }
  if (audit == nullptr || changes.empty()) return;
  AuditRecord a = *audit;
  a.object = absl::StrCat("channels/", changes.front().channel);
  if (a.old_value.empty()) a.old_value = old_values;
  if (a.new_value.empty()) a.new_value = new_values;
  InsertAuditEvent(tx, a);
}

// A channel as the audit trail shows what a deletion removed.
std::string Describe(const Channel& c) {
  return absl::StrCat("target=", c.target_version.value_or("none"), " critical=", c.critical ? "true" : "false",
                      " control_plane=", c.control_plane_version);
}

}  // namespace

absl::StatusOr<Channel> PgStore::CreateChannel(const Channel& ch, const AuditRecord* audit) {
  return pool_.Run<Channel>("creating channel", [&](pqxx::connection& c) -> absl::StatusOr<Channel> {
    Channel row = ch;
    rollout::PrepareNewChannel(row);
    // A channel created with a target starts no staged rollout: it has no
    // hosts yet, so they get the target at once. Rollouts start with the
    // first change of target (UpdateChannel).
    pqxx::work tx(c);
    pqxx::result r = tx.exec_params(
        Sql("channel_insert"), row.id, row.target_version.value_or(""), row.target_allows_downgrade,
        row.target_epoch, row.last_target_version.value_or(""), row.last_target_allows_downgrade,
        row.control_plane_version, EncodeWindows(row.maintenance_windows), Millis(row.poll_interval), kNowParameter,
        row.follows_control_plane);
    if (r.empty()) {
      return absl::AlreadyExistsError(absl::StrCat("channel \"", ch.id, "\" already exists"));
    }
    absl::StatusOr<Channel> created = ChannelFromRow(r[0]);
    if (!created.ok()) return created.status();
    RecordChanges(tx, {{0, ch.id, "created", "",
                        absl::StrCat("target=", row.target_version.value_or("none"),
                                     " control_plane=", ch.control_plane_version,
                                     ch.follows_control_plane ? " (target follows the control plane)" : ""),
                        "", absl::Time()}},
                  audit);
    tx.commit();
    return created;
  });
}

absl::StatusOr<std::vector<Channel>> PgStore::ListChannels() {
  return pool_.Run<std::vector<Channel>>(
      "listing channels", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<Channel>> {
        pqxx::read_transaction tx(c);
        std::vector<Channel> out;
        for (const pqxx::row& row : tx.exec(Sql("channel_list"))) {
          absl::StatusOr<Channel> ch = ChannelFromRow(row);
          if (!ch.ok()) return ch.status();
          out.push_back(*std::move(ch));
        }
        return out;
      });
}

absl::StatusOr<Channel> PgStore::GetChannel(const std::string& id) {
  return pool_.Run<Channel>("reading channel", [&](pqxx::connection& c) -> absl::StatusOr<Channel> {
    pqxx::read_transaction tx(c);
    return ReadChannel(tx, id, Lock::kNone);
  });
}

absl::StatusOr<int64_t> PgStore::DeleteChannel(const std::string& id, bool force, const AuditRecord* audit) {
  absl::StatusOr<bool> citus = UsesCitus();
  if (!citus.ok()) return citus.status();
  return pool_.Run<int64_t>("deleting channel", [&](pqxx::connection& c) -> absl::StatusOr<int64_t> {
    pqxx::work tx(c);
    // Citus: the agents' shards and then channels (a reference table, which
    // they refer to) in one transaction, over one connection per worker.
    if (*citus) tx.exec(Sql("citus_sequential_writes"));
    absl::StatusOr<Channel> ch = ReadChannel(tx, id, Lock::kDelete);
    if (!ch.ok()) return ch.status();
    const int64_t agents = tx.exec_params1(Sql("channel_agent_count"), id)["agents"].as<int64_t>();
    if (agents > 0 && !force) {
      return absl::FailedPreconditionError(absl::StrCat(
          "channel \"", id, "\" still has ", agents,
          " agents: move them to another channel first, or delete with force to forget them"));
    }
    pqxx::result removed = tx.exec_params(Sql("channel_delete_agents"), id);
    tx.exec_params0(Sql("channel_delete"), id);
    const std::string gone = absl::StrCat("agents_removed=", removed.affected_rows());
    if (audit != nullptr) {
      AuditRecord a = *audit;
      a.old_value = Describe(*ch);
      a.new_value = absl::StrCat("deleted ", gone, force ? " (force)" : "");
      RecordChanges(tx, {{0, id, "deleted", "", gone, "", absl::Time()}}, &a);
    } else {
      RecordChanges(tx, {{0, id, "deleted", "", gone, "", absl::Time()}}, nullptr);
    }
    tx.commit();
    return static_cast<int64_t>(removed.affected_rows());
  });
}

absl::StatusOr<Channel> PgStore::UpdateChannel(const std::string& id, const ChannelMutation& mutate,
                                               const AuditRecord* audit) {
  return pool_.Run<Channel>("updating channel", [&](pqxx::connection& c) -> absl::StatusOr<Channel> {
    pqxx::work tx(c);
    absl::StatusOr<Channel> ch = ReadChannel(tx, id, Lock::kEdit);
    if (!ch.ok()) return ch.status();
    const Channel before = *ch;
    std::vector<ChannelChange> changes;
    if (absl::Status s = mutate(*ch, changes); !s.ok()) return s;
    if (changes.empty()) return ch;
    for (ChannelChange& change : changes) change.channel = id;
    pqxx::result r = tx.exec_params(
        Sql("channel_update"), id, ch->target_version.value_or(""), ch->target_allows_downgrade,
        rollout::StartsTargetEpoch(changes), ch->critical, ch->critical_reason, ch->control_plane_version,
        EncodeWindows(ch->maintenance_windows), Millis(ch->poll_interval), ch->last_target_version.value_or(""),
        ch->last_target_allows_downgrade, kNowParameter, ch->follows_control_plane);
    absl::StatusOr<Channel> updated = ChannelFromRow(r.at(0));
    if (!updated.ok()) return updated.status();
    // A new target starts a staged rollout, a cleared one ends it: in this
    // transaction, so no host ever sees the target without its rollout.
    updated = ApplyRolloutChanges(tx, before, *updated, changes, clock_->Now());
    if (!updated.ok()) return updated.status();
    RecordChanges(tx, changes, audit);
    NotifyChannelChanged(tx, id);
    tx.commit();
    return updated;
  });
}

absl::StatusOr<std::vector<ChannelChange>> PgStore::ListChannelChanges(const std::string& id, int64_t before_id,
                                                                       int limit) {
  return pool_.Run<std::vector<ChannelChange>>(
      "listing channel changes", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<ChannelChange>> {
        pqxx::read_transaction tx(c);
        std::vector<ChannelChange> out;
        pqxx::result r = tx.exec_params(Sql("channel_changes_list"), id, before_id, limit);
        // A deleted channel's history stays readable; a name never used is an error.
        if (r.empty() && tx.exec_params(Sql("channel_name_used"), id).empty()) return ChannelNotFound(id);
        for (const pqxx::row& row : r) {
          out.push_back({.id = row["id"].as<int64_t>(),
                         .channel = row["channel"].as<std::string>(),
                         .field = row["field"].as<std::string>(),
                         .old_value = row["old_value"].as<std::string>(),
                         .new_value = row["new_value"].as<std::string>(),
                         .actor = row["actor"].as<std::string>(),
                         .changed_at = TimeColumn(row, "changed_at_us")});
        }
        return out;
      });
}

}  // namespace drover::store
