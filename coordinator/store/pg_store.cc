#include "absl/strings/string_view.h"
#include "coordinator/store/pg_store.h"
#include "coordinator/store/pg_errors.h"
#include "coordinator/store/pg_values.h"

#include <algorithm>
#include <array>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/semver.h"
#include "common/version_policy.h"
#include "coordinator/rollout/report_apply.h"
#include "coordinator/rollout/rollout_status.h"

namespace drover::store {
namespace {

using rollout::AgentState;
using rollout::Channel;
using rollout::Health;

std::string Micros(absl::string_view column) {
  return absl::StrCat("(extract(epoch from ", column, ") * 1000000)::bigint");
}

const std::string& ChannelColumns() {
  static const std::string* cols = new std::string(absl::StrCat(
      "name, target_version, target_allows_downgrade, ", Micros("target_updated_at"),
      ", target_epoch, critical, critical_reason, ", Micros("critical_updated_at"),
      ", control_plane_version, maintenance_windows, poll_interval_ms, ", Micros("created_at"), ", ",
      Micros("updated_at"), ", generation, last_target_version, last_target_allows_downgrade"));
  return *cols;
}

std::optional<absl::Time> OptionalTime(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return store::FromUnixMicros(f.as<int64_t>());
}

absl::StatusOr<Channel> ChannelFromRow(const pqxx::row& r) {
  Channel c;
  c.id = r[0].as<std::string>();
  if (!r[1].is_null()) c.target_version = r[1].as<std::string>();
  c.target_allows_downgrade = r[2].as<bool>();
  c.target_updated_at = OptionalTime(r[3]);
  c.target_epoch = r[4].as<int64_t>();
  c.critical = r[5].as<bool>();
  c.critical_reason = r[6].as<std::string>();
  c.critical_updated_at = OptionalTime(r[7]);
  c.control_plane_version = r[8].as<std::string>();
  absl::StatusOr<std::vector<MaintenanceWindow>> windows = DecodeWindows(r[9].as<std::string>());
  if (!windows.ok()) {
    return absl::DataLossError(absl::StrCat("channel \"", c.id, "\": ", windows.status().message()));
  }
  c.maintenance_windows = *std::move(windows);
  c.poll_interval = absl::Milliseconds(r[10].as<int64_t>());
  c.created_at = store::FromUnixMicros(r[11].as<int64_t>());
  c.updated_at = store::FromUnixMicros(r[12].as<int64_t>());
  c.generation = r[13].as<int64_t>();
  if (!r[14].is_null()) c.last_target_version = r[14].as<std::string>();
  c.last_target_allows_downgrade = r[15].as<bool>();
  return c;
}

absl::Status ChannelNotFound(const std::string& id) {
  return absl::NotFoundError(absl::StrCat("channel \"", id, "\" not found"));
}

// Lock modes: ingest takes FOR KEY SHARE on the channels of a batch (enough
// to keep them from being deleted under it); operator edits take FOR NO KEY
// UPDATE, which does not conflict with it, so a target change is never
// starved by a busy ingest. An outcome committed while the target changes may
// count towards the previous target's epoch. Deletion takes FOR UPDATE.
enum class Lock { kNone, kEdit, kDelete };

absl::StatusOr<Channel> ReadChannel(pqxx::transaction_base& tx, const std::string& id, Lock lock) {
  pqxx::result r = tx.exec_params(
      absl::StrCat("SELECT ", ChannelColumns(), " FROM channels WHERE name = $1",
                   lock == Lock::kEdit ? " FOR NO KEY UPDATE" : lock == Lock::kDelete ? " FOR UPDATE" : ""),
      id);
  if (r.empty()) return ChannelNotFound(id);
  return ChannelFromRow(r[0]);
}

void RecordChanges(pqxx::transaction_base& tx, const std::vector<ChannelChange>& changes) {
  for (const ChannelChange& c : changes) {
    tx.exec_params0(
        "INSERT INTO channel_changes (channel, field, old_value, new_value, actor) "
        "VALUES ($1, $2, $3, $4, NULLIF($5, ''))",
        c.channel, c.field, c.old_value, c.new_value, c.actor);
  }
}

template <typename T>
absl::StatusOr<T> Guard(absl::string_view what, const std::function<absl::StatusOr<T>()>& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return PgErrorToStatus(e, what);
  }
}

// An agent is stale when it was last seen before now - 3 poll intervals,
// rounded down to the 10 s buckets seen_counts keeps (so counts and lists agree).
#define STALE_CUTOFF \
  "to_timestamp(floor(extract(epoch FROM now() - c.poll_interval_ms * 3 * interval '1 millisecond') / 10) * 10)"

// A host id is in conflict while its last A-B-A report is recent (rollout::kInstanceConflictPollIntervals).
std::string InstanceConflictSince() {
  return absl::StrCat("now() - c.poll_interval_ms * ", rollout::kInstanceConflictPollIntervals,
                      " * interval '1 millisecond'");
}

const std::string& AgentColumns() {
  static const std::string* cols = new std::string(absl::StrCat(
      "a.host_id, a.channel, a.group_name, a.current_version, a.health, a.updater_version, a.sequence, "
      "(extract(epoch from a.first_seen) * 1000000)::bigint, (extract(epoch from a.last_seen) * 1000000)::bigint, "
      "a.last_seen < " STALE_CUTOFF ", c.control_plane_version, a.instance_id, a.schedule_state, "
      "coalesce(a.last_result, 0), coalesce(a.last_result_version, ''), "
      "coalesce(a.instance_conflict_at >= ", InstanceConflictSince(), ", false)"));
  return *cols;
}

std::optional<rollout::UpdateResult> LastResultFromColumn(int value) {
  if (value < 1 || value > 3) return std::nullopt;
  return static_cast<rollout::UpdateResult>(value);
}

AgentView AgentFromRow(const pqxx::row& r) {
  AgentView v;
  v.state.host_id = r[0].as<std::string>();
  v.state.channel = r[1].as<std::string>();
  v.state.group = r[2].as<std::string>();
  v.state.current_version = r[3].as<std::string>();
  v.state.health = static_cast<Health>(r[4].as<int>());
  v.state.updater_version = r[5].as<std::string>();
  v.state.sequence = r[6].as<int64_t>();
  v.state.first_seen = store::FromUnixMicros(r[7].as<int64_t>());
  v.state.last_seen = store::FromUnixMicros(r[8].as<int64_t>());
  v.stale = r[9].as<bool>();
  v.state.instance_id = r[11].as<std::string>();
  v.state.schedule_state = static_cast<rollout::ScheduleState>(r[12].as<int>());
  v.state.last_result = LastResultFromColumn(r[13].as<int>());
  v.state.last_result_version = r[14].as<std::string>();
  v.instance_conflict = r[15].as<bool>();
  absl::StatusOr<Semver> cp = Semver::Parse(r[10].as<std::string>());
  absl::StatusOr<Semver> version = Semver::Parse(v.state.current_version);
  if (!cp.ok() || !version.ok()) {
    v.out_of_policy = true;
    v.out_of_policy_reason = "version cannot be compared";
  } else {
    v.out_of_policy_reason = OutOfPolicyReason(*version, *cp);
    v.out_of_policy = !v.out_of_policy_reason.empty();
  }
  return v;
}

// One round of a batch (at most one report per host), written by a single
// statement: an implicit transaction, one round trip, one commit. Parameters:
// the reports as columns ($1..$7), their update outcomes as columns ($8..$14,
// $8 being the report's 1-based position in $1). What the statement does:
//   - locks the reports' channels against deletion (FOR KEY SHARE; operator
//     edits take FOR NO KEY UPDATE and are not blocked);
//   - updates each known host whose stored sequence is below the report's,
//     reaching the row by the tuple id its snapshot read (one index descent
//     per host, not two), provided the row is still that version: a
//     concurrent writer makes it skip the row, and the next round retries it;
//   - inserts unknown hosts (ON CONFLICT: a concurrent first report wins);
//   - moves the counters by what it really applied, old row to new row, in
//     its own counter shard;
//   - records the applied reports' outcomes, and counts them towards the
//     current target only when they reached for it (to-version = target) and
//     finished after it was set (allowing an agent clock 5 minutes slow, the
//     skew api::kMaxClockSkew allows the other way);
//     anything else is a late outcome of an earlier target (one still on its
//     way when the target moved, a failure reported after a roll-back, an old
//     attempt at a version that is the target again) and counts towards the
//     epoch before.
//   - keeps, per host, which updater instance reported and flags an instance
//     reporting again after another one did (a cloned host id; the rule is
//     rollout::ApplyInstance, mirrored here), its schedule state (counted per
//     channel like versions; a heartbeat whose state did not change adds
//     nothing to group) and its last update attempt ($15..$18);
//   - records reports for a channel that does not exist in orphan_hosts
//     (only such reports write there).
// It returns one row per report it did not apply: (position, channel exists,
// stored sequence or NULL).
constexpr const char* kIngestStatement = "drover_ingest";
constexpr const char* kIngestSql = R"sql(
WITH t AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::smallint[], $6::text[], $7::bigint[],
                       $15::text[], $16::smallint[], $17::smallint[], $18::text[])
    WITH ORDINALITY AS t(h, c, g, v, he, u, s, iid, ss, lr, lv, i)),
ch AS (
  SELECT name, target_epoch, target_version, target_updated_at FROM channels WHERE name IN (SELECT c FROM t)
  ORDER BY name FOR KEY SHARE),
old AS (
  SELECT ctid, host_id, channel, current_version, health, sequence, last_seen, instance_id, previous_instance_id,
         schedule_state FROM agents
  WHERE host_id = ANY($1::text[])),
upd AS (
  UPDATE agents a SET channel = t.c, group_name = t.g, current_version = t.v, health = t.he,
         updater_version = t.u, sequence = t.s, last_seen = now(),
         instance_id = CASE WHEN t.iid = '' THEN o.instance_id ELSE t.iid END,
         previous_instance_id = CASE WHEN t.iid <> '' AND o.instance_id NOT IN ('', t.iid) THEN o.instance_id
                                     ELSE o.previous_instance_id END,
         instance_conflict_at = CASE WHEN t.iid <> '' AND o.instance_id NOT IN ('', t.iid)
                                          AND o.previous_instance_id = t.iid THEN now()
                                     ELSE a.instance_conflict_at END,
         schedule_state = t.ss,
         last_result = CASE WHEN t.lr = 0 THEN a.last_result ELSE t.lr END,
         last_result_version = CASE WHEN t.lr = 0 THEN a.last_result_version ELSE t.lv END
  FROM t JOIN old o ON o.host_id = t.h JOIN ch ON ch.name = t.c
  WHERE a.ctid = o.ctid AND a.sequence = o.sequence AND t.s > o.sequence
  RETURNING t.i, a.channel, a.current_version, a.health, a.schedule_state,
            o.channel AS old_channel, o.current_version AS old_version, o.health AS old_health,
            o.last_seen AS old_last_seen, o.schedule_state AS old_schedule_state),
ins AS (
  INSERT INTO agents (host_id, channel, group_name, current_version, health, updater_version, sequence,
                      first_seen, last_seen, instance_id, schedule_state, last_result, last_result_version)
  SELECT t.h, t.c, t.g, t.v, t.he, t.u, t.s, now(), now(), t.iid, t.ss, NULLIF(t.lr, 0),
         CASE WHEN t.lr = 0 THEN NULL ELSE t.lv END
  FROM t JOIN ch ON ch.name = t.c
  WHERE NOT EXISTS (SELECT 1 FROM old WHERE old.host_id = t.h) ORDER BY t.h
  ON CONFLICT (host_id) DO NOTHING
  RETURNING host_id, channel, current_version, health, schedule_state),
applied AS (
  SELECT i, channel FROM upd UNION ALL SELECT t.i, ins.channel FROM ins JOIN t ON t.h = ins.host_id),
fleet AS (
  INSERT INTO fleet_counts AS f (channel, version, health, shard, agents)
  SELECT c, v, he, pg_backend_pid() % 32, sum(d) FROM (
      SELECT channel, current_version, health, 1 FROM upd
      UNION ALL SELECT old_channel, old_version, old_health, -1 FROM upd
      UNION ALL SELECT channel, current_version, health, 1 FROM ins) AS x(c, v, he, d)
  GROUP BY c, v, he HAVING sum(d) <> 0 ORDER BY c, v, he
  ON CONFLICT (channel, version, health, shard) DO UPDATE SET agents = f.agents + EXCLUDED.agents),
seen AS (
  INSERT INTO seen_counts AS sc (channel, bucket, shard, agents)
  SELECT c, b, pg_backend_pid() % 32, sum(d) FROM (
      SELECT channel, date_bin('10 s', now(), 'epoch'), 1 FROM applied
      UNION ALL
      SELECT old_channel, date_bin('10 s', old_last_seen, 'epoch'), -1 FROM upd
    ) AS x(c, b, d)
  GROUP BY c, b HAVING sum(d) <> 0 ORDER BY c, b
  ON CONFLICT (channel, bucket, shard) DO UPDATE SET agents = sc.agents + EXCLUDED.agents),
sched AS (
  INSERT INTO schedule_counts AS sk (channel, state, shard, agents)
  SELECT c, st, pg_backend_pid() % 32, sum(d) FROM (
      SELECT channel, schedule_state, 1 FROM upd
        WHERE (channel, schedule_state) IS DISTINCT FROM (old_channel, old_schedule_state)
      UNION ALL SELECT old_channel, old_schedule_state, -1 FROM upd
        WHERE (channel, schedule_state) IS DISTINCT FROM (old_channel, old_schedule_state)
      UNION ALL SELECT channel, schedule_state, 1 FROM ins) AS x(c, st, d)
  GROUP BY c, st HAVING sum(d) <> 0 ORDER BY c, st
  ON CONFLICT (channel, state, shard) DO UPDATE SET agents = sk.agents + EXCLUDED.agents),
orphans AS (
  INSERT INTO orphan_hosts AS oh (host_id, channel, group_name, current_version, health, instance_id, first_seen,
                                  last_seen)
  SELECT t.h, t.c, t.g, t.v, t.he, t.iid, now(), now() FROM t WHERE NOT EXISTS (SELECT 1 FROM ch WHERE ch.name = t.c)
  ORDER BY t.h
  ON CONFLICT (host_id) DO UPDATE SET channel = EXCLUDED.channel, group_name = EXCLUDED.group_name,
      current_version = EXCLUDED.current_version, health = EXCLUDED.health, instance_id = EXCLUDED.instance_id,
      last_seen = EXCLUDED.last_seen),
e AS (
  SELECT * FROM unnest($8::bigint[], $9::text[], $10::text[], $11::smallint[], $12::text[], $13::bigint[],
                       $14::bigint[]) AS e(i, f, tv, r, err, st, fi)),
events AS (
  INSERT INTO update_events (host_id, channel, from_version, to_version, result, error, started_at, finished_at,
                             report_sequence)
  SELECT t.h, a.channel, e.f, e.tv, e.r, e.err, 'epoch'::timestamptz + e.st * interval '1 microsecond',
         'epoch'::timestamptz + e.fi * interval '1 microsecond', t.s
  FROM e JOIN applied a ON a.i = e.i JOIN t ON t.i = e.i),
outcomes AS (
  INSERT INTO outcome_counts AS oc (channel, target_epoch, result, shard, outcomes)
  SELECT a.channel,
         CASE WHEN ch.target_epoch = 0 OR ch.target_updated_at IS NULL
                   OR (e.tv = ch.target_version
                       AND 'epoch'::timestamptz + e.fi * interval '1 microsecond'
                           >= ch.target_updated_at - interval '5 minutes')
              THEN ch.target_epoch ELSE ch.target_epoch - 1 END,
         e.r, pg_backend_pid() % 32, count(*)
  FROM e JOIN applied a ON a.i = e.i JOIN ch ON ch.name = a.channel
  GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (channel, target_epoch, result, shard) DO UPDATE SET outcomes = oc.outcomes + EXCLUDED.outcomes)
SELECT t.i, ch.name IS NOT NULL, o.sequence
FROM t LEFT JOIN ch ON ch.name = t.c LEFT JOIN old o ON o.host_id = t.h
WHERE t.i NOT IN (SELECT i FROM applied)
)sql";

// A round this many times over means hosts keep racing with another replica.
constexpr int kMaxRounds = 8;

}  // namespace

PgStore::PgStore(PgStoreOptions options)
    : options_(std::move(options)),
      pool_(options_.url, options_.pool_size,
            [timeout = options_.statement_timeout](pqxx::connection& c) {
              pqxx::nontransaction tx(c);
              // An operator edit waiting on a lock gives up (UNAVAILABLE,
              // retry) rather than hanging the RPC.
              tx.exec(absl::StrCat("SET synchronous_commit = on; SET statement_timeout = ",
                                   absl::ToInt64Milliseconds(timeout), "; SET lock_timeout = 5000"));
            },
            options_.statement_timeout + kWatchdogMargin),
      ingest_pool_(options_.url, options_.ingest_pool_size, [timeout = options_.statement_timeout](pqxx::connection& c) {
        pqxx::nontransaction tx(c);
        // Reports are acknowledged only once durable: never let a server
        // default weaken that. The ingest statement is planned once per
        // connection (planning it costs more than running it for a batch), and
        // that one plan must look agents up by key even if it was made while
        // the table was empty, when a sequential scan looked cheaper.
        tx.exec(absl::StrCat("SET synchronous_commit = on; SET statement_timeout = ",
                             absl::ToInt64Milliseconds(timeout),
                             "; SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off"));
        c.prepare(kIngestStatement, kIngestSql);
      }, options_.statement_timeout + kWatchdogMargin) {}

namespace {

// Folds a counter table's shards into shard 0, for the rows `where` selects,
// then drops rows that reached zero. Rows are locked in key order, the order
// ingest writes them in, so the two cannot deadlock.
void FoldShards(pqxx::work& tx, absl::string_view table, absl::string_view keys, absl::string_view value,
                absl::string_view where) {
  std::vector<std::string> match;
  for (absl::string_view k : absl::StrSplit(keys, ", ")) match.push_back(absl::StrCat("t.", k, " = l.", k));
  tx.exec0(absl::StrCat(
      "WITH locked AS (SELECT ", keys, ", shard, ", value, " FROM ", table, " WHERE ", where, " ORDER BY ", keys,
      ", shard FOR UPDATE), "
      "gone AS (DELETE FROM ", table, " t USING locked l WHERE ", absl::StrJoin(match, " AND "),
      " AND t.shard = l.shard AND t.shard <> 0) "
      "INSERT INTO ", table, " AS t (", keys, ", shard, ", value, ") SELECT ", keys, ", 0, sum(", value,
      ") FROM locked GROUP BY ", keys, " ORDER BY ", keys, " ON CONFLICT (", keys, ", shard) DO UPDATE SET ",
      value, " = EXCLUDED.", value));
  tx.exec0(absl::StrCat("DELETE FROM ", table, " WHERE ", value, " = 0 AND ", where));
}

}  // namespace

absl::Status PgStore::CompactCounters() {
  return pool_
      .Run<bool>("compacting counters",
                 [](pqxx::connection& c) -> absl::StatusOr<bool> {
                   pqxx::work tx(c);
                   FoldShards(tx, "fleet_counts", "channel, version, health", "agents", "true");
                   FoldShards(tx, "outcome_counts", "channel, target_epoch, result", "outcomes", "true");
                   FoldShards(tx, "schedule_counts", "channel, state", "agents", "true");
                   // Orphans are listed for kOrphanVisibleFor; older rows serve nobody.
                   tx.exec_params0("DELETE FROM orphan_hosts WHERE last_seen < now() - $1 * interval '1 second'",
                                   absl::ToInt64Seconds(rollout::kOrphanVisibleFor));
                   // Recent buckets are where ingest adds; only agents leaving
                   // touch the older ones.
                   FoldShards(tx, "seen_counts", "channel, bucket", "agents", "bucket < now() - interval '1 minute'");
                   tx.commit();
                   return true;
                 })
      .status();
}

absl::Status PgStore::Ping() {
  return pool_
      .Run<bool>("ping",
                 [](pqxx::connection& c) -> absl::StatusOr<bool> {
                   pqxx::nontransaction tx(c);
                   tx.exec("SELECT 1");
                   return true;
                 })
      .status();
}

// --- Channels ----------------------------------------------------------------

absl::StatusOr<Channel> PgStore::CreateChannel(const Channel& ch) {
  return pool_.Run<Channel>("creating channel", [&](pqxx::connection& c) -> absl::StatusOr<Channel> {
    pqxx::work tx(c);
    pqxx::result r = tx.exec_params(
        // A target given at creation starts epoch 1, as SetTargetVersion
        // would: in epoch 0 (no target yet) every outcome counts.
        absl::StrCat("INSERT INTO channels (name, target_version, target_updated_at, target_epoch, "
                     "control_plane_version, maintenance_windows, poll_interval_ms) VALUES ($1, NULLIF($2, ''), "
                     "CASE WHEN $2 = '' THEN NULL ELSE now() END, CASE WHEN $2 = '' THEN 0 ELSE 1 END, $3, $4, $5) "
                     "ON CONFLICT (name) DO NOTHING RETURNING ",
                     ChannelColumns()),
        ch.id, ch.target_version.value_or(""), ch.control_plane_version, EncodeWindows(ch.maintenance_windows),
        absl::ToInt64Milliseconds(ch.poll_interval));
    if (r.empty()) {
      return absl::AlreadyExistsError(absl::StrCat("channel \"", ch.id, "\" already exists"));
    }
    absl::StatusOr<Channel> created = ChannelFromRow(r[0]);
    if (!created.ok()) return created.status();
    RecordChanges(tx, {{0, ch.id, "created", "",
                        absl::StrCat("target=", ch.target_version.value_or("none"),
                                     " control_plane=", ch.control_plane_version),
                        "", absl::Time()}});
    tx.commit();
    return created;
  });
}

absl::StatusOr<std::vector<Channel>> PgStore::ListChannels() {
  return pool_.Run<std::vector<Channel>>(
      "listing channels", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<Channel>> {
        pqxx::read_transaction tx(c);
        std::vector<Channel> out;
        for (const pqxx::row& row : tx.exec(absl::StrCat("SELECT ", ChannelColumns(), " FROM channels ORDER BY name"))) {
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

absl::StatusOr<int64_t> PgStore::DeleteChannel(const std::string& id, bool force) {
  return pool_.Run<int64_t>("deleting channel", [&](pqxx::connection& c) -> absl::StatusOr<int64_t> {
    pqxx::work tx(c);
    absl::StatusOr<Channel> ch = ReadChannel(tx, id, Lock::kDelete);
    if (!ch.ok()) return ch.status();
    int64_t agents =
        tx.exec_params1("SELECT coalesce(sum(agents), 0)::bigint FROM fleet_counts WHERE channel = $1", id)[0]
            .as<int64_t>();
    if (agents > 0 && !force) {
      return absl::FailedPreconditionError(absl::StrCat(
          "channel \"", id, "\" still has ", agents,
          " agents: move them to another channel first, or delete with force to forget them"));
    }
    pqxx::result removed = tx.exec_params("DELETE FROM agents WHERE channel = $1", id);
    tx.exec_params0("DELETE FROM channels WHERE name = $1", id);
    RecordChanges(tx, {{0, id, "deleted", "", absl::StrCat("agents_removed=", removed.affected_rows()), "",
                        absl::Time()}});
    tx.commit();
    return static_cast<int64_t>(removed.affected_rows());
  });
}

absl::StatusOr<Channel> PgStore::UpdateChannel(const std::string& id, const ChannelMutation& mutate) {
  return pool_.Run<Channel>("updating channel", [&](pqxx::connection& c) -> absl::StatusOr<Channel> {
    pqxx::work tx(c);
    absl::StatusOr<Channel> ch = ReadChannel(tx, id, Lock::kEdit);
    if (!ch.ok()) return ch.status();
    std::vector<ChannelChange> changes;
    if (absl::Status s = mutate(*ch, changes); !s.ok()) return s;
    if (changes.empty()) return ch;
    const bool bump_target_epoch = std::any_of(changes.begin(), changes.end(), [](const ChannelChange& change) {
      return change.field == "target_version";
    });
    for (ChannelChange& change : changes) change.channel = id;
    pqxx::result r = tx.exec_params(
        absl::StrCat(
            "UPDATE channels SET target_version = NULLIF($2, ''), target_allows_downgrade = $3, "
            "target_updated_at = CASE WHEN $4 THEN now() ELSE target_updated_at END, "
            "target_epoch = target_epoch + CASE WHEN $4 THEN 1 ELSE 0 END, "
            "critical_updated_at = CASE WHEN critical IS DISTINCT FROM $5 THEN now() ELSE critical_updated_at END, "
            "critical = $5, critical_reason = $6, control_plane_version = $7, maintenance_windows = $8, "
            "poll_interval_ms = $9, last_target_allows_downgrade = $10, updated_at = now(), "
            "generation = generation + 1 "
            "WHERE name = $1 RETURNING ",
            ChannelColumns()),
        id, ch->target_version.value_or(""), ch->target_allows_downgrade, bump_target_epoch, ch->critical,
        ch->critical_reason, ch->control_plane_version, EncodeWindows(ch->maintenance_windows),
        absl::ToInt64Milliseconds(ch->poll_interval), ch->last_target_allows_downgrade);
    absl::StatusOr<Channel> updated = ChannelFromRow(r.at(0));
    if (!updated.ok()) return updated.status();
    RecordChanges(tx, changes);
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
        pqxx::result r = tx.exec_params(
            absl::StrCat("SELECT id, channel, field, coalesce(old_value, ''), coalesce(new_value, ''), "
                         "coalesce(actor, ''), ",
                         Micros("changed_at"),
                         " FROM channel_changes WHERE channel = $1 AND ($2::bigint = 0 OR id < $2::bigint) "
                         "ORDER BY id DESC LIMIT $3"),
            id, before_id, limit);
        // A deleted channel's history stays readable; a name never used is an error.
        if (r.empty() && tx.exec_params("SELECT 1 FROM channels WHERE name = $1 UNION ALL "
                                        "SELECT 1 FROM channel_changes WHERE channel = $1 LIMIT 1",
                                        id)
                             .empty()) {
          return ChannelNotFound(id);
        }
        for (const pqxx::row& row : r) {
          out.push_back({row[0].as<int64_t>(), row[1].as<std::string>(), row[2].as<std::string>(),
                         row[3].as<std::string>(), row[4].as<std::string>(), row[5].as<std::string>(),
                         store::FromUnixMicros(row[6].as<int64_t>())});
        }
        return out;
      });
}

// --- Agents --------------------------------------------------------------------

absl::StatusOr<std::vector<ReportResult>> PgStore::ApplyReports(
    const std::vector<const rollout::AgentReport*>& reports) {
  std::vector<ReportResult> results(reports.size());
  std::vector<std::string> hosts;
  hosts.reserve(reports.size());
  for (const auto* r : reports) hosts.push_back(r->host_id);

  std::vector<size_t> pending(reports.size());
  for (size_t i = 0; i < pending.size(); ++i) pending[i] = i;
  bool committed_any = false;
  for (int round_number = 0; !pending.empty(); ++round_number) {
    if (round_number == kMaxRounds) {
      for (size_t i : pending) {
        results[i].status = absl::AbortedError(absl::StrCat(
            "host \"", hosts[i], "\" is being written by another coordinator at the same time: retry"));
      }
      break;
    }
    rollout::Round round = rollout::NextRound(hosts, pending);
    // Hosts in key order, so replicas writing overlapping hosts lock rows in
    // the same order.
    std::sort(round.now.begin(), round.now.end(), [&](size_t a, size_t b) { return hosts[a] < hosts[b]; });

    ArrayLiteral h, c, g, v, he, u, s, ei, ef, et, er, ee, est, efi, iid, ss, lr, lv;
    for (size_t k = 0; k < round.now.size(); ++k) {
      const rollout::AgentReport& r = *reports[round.now[k]];
      h.Add(r.host_id);
      c.Add(r.channel);
      g.Add(r.group);
      v.Add(r.current_version);
      he.Add(static_cast<int64_t>(r.health));
      u.Add(r.updater_version);
      s.Add(r.sequence);
      iid.Add(r.instance_id);
      ss.Add(static_cast<int64_t>(r.schedule_state));
      const rollout::UpdateOutcome* last = rollout::LastOutcome(r);
      lr.Add(last == nullptr ? int64_t{0} : static_cast<int64_t>(last->result));
      lv.Add(last == nullptr ? absl::string_view() : absl::string_view(last->to_version));
      for (const rollout::UpdateOutcome& o : r.outcomes) {
        ei.Add(static_cast<int64_t>(k + 1));
        ef.Add(o.from_version);
        et.Add(o.to_version);
        er.Add(static_cast<int64_t>(o.result));
        ee.Add(o.error);
        est.Add(store::ToUnixMicros(o.start_time));
        efi.Add(store::ToUnixMicros(o.finish_time));
      }
    }
    // Built once: the pool may run the statement again (deadlock, stale connection).
    const std::array<std::string, 18> params = {
        std::move(h).Finish(),   std::move(c).Finish(),   std::move(g).Finish(),   std::move(v).Finish(),
        std::move(he).Finish(),  std::move(u).Finish(),   std::move(s).Finish(),   std::move(ei).Finish(),
        std::move(ef).Finish(),  std::move(et).Finish(),  std::move(er).Finish(),  std::move(ee).Finish(),
        std::move(est).Finish(), std::move(efi).Finish(), std::move(iid).Finish(), std::move(ss).Finish(),
        std::move(lr).Finish(),  std::move(lv).Finish()};
    absl::StatusOr<pqxx::result> written = ingest_pool_.Run<pqxx::result>(
        "storing reports", [&](pqxx::connection& conn) -> absl::StatusOr<pqxx::result> {
          pqxx::nontransaction tx(conn);
          return tx.exec_prepared(kIngestStatement, params[0], params[1], params[2], params[3], params[4],
                                  params[5], params[6], params[7], params[8], params[9], params[10], params[11],
                                  params[12], params[13], params[14], params[15], params[16], params[17]);
        });
    if (!written.ok()) {
      // Nothing of this round (or later ones) is stored; earlier rounds are.
      if (!committed_any) return written.status();
      for (size_t i : pending) results[i].status = written.status();
      break;
    }
    committed_any = true;

    for (size_t i : round.now) {
      results[i].disposition = rollout::ReportDisposition::kAccepted;
      results[i].stored_sequence = reports[i]->sequence;
    }
    std::vector<size_t> retry;
    for (const pqxx::row& row : *written) {
      const size_t i = round.now.at(row[0].as<size_t>() - 1);
      std::optional<int64_t> stored;
      if (!row[2].is_null()) stored = row[2].as<int64_t>();
      ReportResult& out = results[i];
      switch (rollout::ClassifyNotApplied(row[1].as<bool>(), reports[i]->sequence, stored)) {
        case rollout::NotApplied::kUnknownChannel:
          out.status = absl::NotFoundError(
              absl::StrCat("channel \"", reports[i]->channel, "\" not found: create it first"));
          break;
        case rollout::NotApplied::kDuplicate:
          out.disposition = rollout::ReportDisposition::kDuplicate;
          out.stored_sequence = *stored;
          break;
        case rollout::NotApplied::kOutOfOrder:
          out.disposition = rollout::ReportDisposition::kOutOfOrder;
          out.stored_sequence = *stored;
          break;
        case rollout::NotApplied::kRetry:
          retry.push_back(i);
          break;
      }
    }
    if (!retry.empty()) ingest_pool_.CountRetry();
    // Back in arrival order, so a retried report still precedes its host's later ones.
    retry.insert(retry.end(), round.later.begin(), round.later.end());
    std::sort(retry.begin(), retry.end());
    pending = std::move(retry);
  }
  return results;
}

absl::StatusOr<AgentView> PgStore::GetAgent(const std::string& host_id) {
  return pool_.Run<AgentView>("reading agent", [&](pqxx::connection& c) -> absl::StatusOr<AgentView> {
    pqxx::read_transaction tx(c);
    pqxx::result r = tx.exec_params(
        absl::StrCat("SELECT ", AgentColumns(), " FROM agents a JOIN channels c ON c.name = a.channel "
                     "WHERE a.host_id = $1"),
        host_id);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("agent \"", host_id, "\" not found"));
    return AgentFromRow(r[0]);
  });
}

namespace {

// Hosts that are orphans now: their latest report named a channel that still
// does not exist, and no report for an existing channel came since.
constexpr const char* kCurrentOrphans =
    "o.last_seen >= now() - $1 * interval '1 second' "
    "AND NOT EXISTS (SELECT 1 FROM channels ch WHERE ch.name = o.channel) "
    "AND NOT EXISTS (SELECT 1 FROM agents a WHERE a.host_id = o.host_id AND a.last_seen >= o.last_seen)";

absl::StatusOr<std::vector<AgentView>> ListOrphans(pqxx::transaction_base& tx, const AgentFilter& filter,
                                                   const std::string& after_host_id, int limit) {
  pqxx::result r = tx.exec_params(
      absl::StrCat("SELECT o.host_id, o.channel, o.group_name, o.current_version, o.health, o.instance_id, ",
                   Micros("o.first_seen"), ", ", Micros("o.last_seen"), " FROM orphan_hosts o WHERE ",
                   kCurrentOrphans,
                   " AND o.host_id > $2 AND ($3 = '' OR o.channel = $3) AND ($4 = '' OR o.group_name = $4) "
                   "ORDER BY o.host_id LIMIT $5"),
      absl::ToInt64Seconds(rollout::kOrphanVisibleFor), after_host_id, filter.channel, filter.group, limit);
  std::vector<AgentView> out;
  out.reserve(r.size());
  for (const pqxx::row& row : r) {
    AgentView v;
    v.orphaned = true;
    v.state.host_id = row["host_id"].as<std::string>();
    v.state.channel = row["channel"].as<std::string>();
    v.state.group = row["group_name"].as<std::string>();
    v.state.current_version = row["current_version"].as<std::string>();
    v.state.health = static_cast<Health>(row["health"].as<int>());
    v.state.instance_id = row["instance_id"].as<std::string>();
    v.state.first_seen = store::FromUnixMicros(row[6].as<int64_t>());
    v.state.last_seen = store::FromUnixMicros(row[7].as<int64_t>());
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace

absl::StatusOr<int64_t> PgStore::CountOrphanedHosts() {
  return pool_.Run<int64_t>("counting orphaned hosts", [&](pqxx::connection& c) -> absl::StatusOr<int64_t> {
    pqxx::read_transaction tx(c);
    return tx
        .exec_params1(absl::StrCat("SELECT count(*) FROM orphan_hosts o WHERE ", kCurrentOrphans),
                      absl::ToInt64Seconds(rollout::kOrphanVisibleFor))[0]
        .as<int64_t>();
  });
}

absl::StatusOr<std::vector<AgentView>> PgStore::ListAgents(const AgentFilter& filter,
                                                           const std::string& after_host_id, int limit) {
  return pool_.Run<std::vector<AgentView>>(
      "listing agents", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<AgentView>> {
        pqxx::read_transaction tx(c);
        if (filter.orphaned_only) return ListOrphans(tx, filter, after_host_id, limit);
        if (!filter.channel.empty() &&
            tx.exec_params("SELECT 1 FROM channels WHERE name = $1", filter.channel).empty()) {
          return ChannelNotFound(filter.channel);
        }
        // Out-of-policy is a property of (channel, version): find those pairs
        // from the counters, then list their agents.
        std::vector<std::string> bad_channels, bad_versions;
        if (filter.out_of_policy_only) {
          pqxx::result r = tx.exec_params(
              "SELECT f.channel, f.version, c.control_plane_version FROM fleet_counts f "
              "JOIN channels c ON c.name = f.channel WHERE $1 = '' OR f.channel = $1 "
              "GROUP BY 1, 2, 3 HAVING sum(f.agents) > 0",
              filter.channel);
          for (const pqxx::row& row : r) {
            std::string version = row[1].as<std::string>();
            if (!rollout::OutOfPolicyVersions({version}, row[2].as<std::string>()).empty()) {
              bad_channels.push_back(row[0].as<std::string>());
              bad_versions.push_back(version);
            }
          }
          if (bad_channels.empty()) return std::vector<AgentView>{};
        }
        pqxx::result r = tx.exec_params(
            absl::StrCat(
                "SELECT ", AgentColumns(),
                " FROM agents a JOIN channels c ON c.name = a.channel "
                "WHERE a.host_id > $1 AND ($2 = '' OR a.channel = $2) AND ($3 = '' OR a.current_version = $3) "
                "AND ($4 = 0 OR a.health = $4) "
                "AND (NOT $5 OR a.last_seen < " STALE_CUTOFF ") "
                "AND (NOT $6 OR (a.channel, a.current_version) IN "
                "(SELECT * FROM unnest($7::text[], $8::text[]))) "
                "AND ($10 = '' OR a.group_name = $10) "
                "AND (NOT $11 OR a.instance_conflict_at >= ", InstanceConflictSince(), ") "
                "AND ($12 = 0 OR a.last_result = $12) "
                "ORDER BY a.host_id LIMIT $9"),
            after_host_id, filter.channel, filter.version, filter.health ? static_cast<int>(*filter.health) : 0,
            filter.stale_only, filter.out_of_policy_only, TextArray(bad_channels), TextArray(bad_versions), limit,
            filter.group, filter.instance_conflict_only,
            filter.last_result ? static_cast<int>(*filter.last_result) : 0);
        std::vector<AgentView> out;
        out.reserve(r.size());
        for (const pqxx::row& row : r) out.push_back(AgentFromRow(row));
        return out;
      });
}

absl::StatusOr<std::vector<StoredUpdateEvent>> PgStore::ListUpdateEvents(const std::string& host_id,
                                                                         int64_t before_id, int limit) {
  return pool_.Run<std::vector<StoredUpdateEvent>>(
      "listing update events", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<StoredUpdateEvent>> {
        pqxx::read_transaction tx(c);
        pqxx::result r = tx.exec_params(
            absl::StrCat("SELECT id, host_id, channel, from_version, to_version, result, error, ",
                         Micros("started_at"), ", ", Micros("finished_at"), ", ", Micros("recorded_at"),
                         " FROM update_events WHERE host_id = $1 AND ($2::bigint = 0 OR id < $2::bigint) "
                         "ORDER BY id DESC LIMIT $3"),
            host_id, before_id, limit);
        std::vector<StoredUpdateEvent> out;
        for (const pqxx::row& row : r) {
          StoredUpdateEvent e;
          e.id = row[0].as<int64_t>();
          e.host_id = row[1].as<std::string>();
          e.channel = row[2].as<std::string>();
          e.outcome.from_version = row[3].as<std::string>();
          e.outcome.to_version = row[4].as<std::string>();
          e.outcome.result = static_cast<rollout::UpdateResult>(row[5].as<int>());
          e.outcome.error = row[6].as<std::string>();
          e.outcome.start_time = store::FromUnixMicros(row[7].as<int64_t>());
          e.outcome.finish_time = store::FromUnixMicros(row[8].as<int64_t>());
          e.recorded_at = store::FromUnixMicros(row[9].as<int64_t>());
          out.push_back(std::move(e));
        }
        return out;
      });
}

namespace {

absl::StatusOr<RolloutInputs> ReadRolloutInputs(pqxx::transaction_base& tx, const pqxx::row& channel_row) {
  RolloutInputs in;
  absl::StatusOr<Channel> ch = ChannelFromRow(channel_row);
  if (!ch.ok()) return ch.status();
  in.channel = *std::move(ch);
  for (const pqxx::row& row :
       tx.exec_params("SELECT version, health, sum(agents)::bigint FROM fleet_counts WHERE channel = $1 "
                      "GROUP BY 1, 2 HAVING sum(agents) <> 0",
                      in.channel.id)) {
    in.counts.push_back(
        {row[0].as<std::string>(), static_cast<Health>(row[1].as<int>()), row[2].as<int64_t>()});
  }
  for (const pqxx::row& row : tx.exec_params(
           "SELECT result, sum(outcomes)::bigint FROM outcome_counts WHERE channel = $1 AND target_epoch = $2 "
           "GROUP BY 1",
           in.channel.id, in.channel.target_epoch)) {
    in.outcomes_since_target.push_back(
        {static_cast<rollout::UpdateResult>(row[0].as<int>()), row[1].as<int64_t>()});
  }
  in.stale_agents = tx.exec_params1(
                          "SELECT coalesce(sum(agents), 0)::bigint FROM seen_counts WHERE channel = $1 AND "
                          "bucket < to_timestamp(floor(extract(epoch FROM now() - $2 * interval '1 millisecond') "
                          "/ 10) * 10)",
                          in.channel.id, absl::ToInt64Milliseconds(rollout::StaleAfter(in.channel)))[0]
                        .as<int64_t>();
  for (const pqxx::row& row :
       tx.exec_params("SELECT state, sum(agents)::bigint FROM schedule_counts WHERE channel = $1 "
                      "GROUP BY 1 HAVING sum(agents) <> 0 ORDER BY 1",
                      in.channel.id)) {
    in.schedule_states.push_back(
        {static_cast<rollout::ScheduleState>(row[0].as<int>()), row[1].as<int64_t>()});
  }
  // Few hosts are in conflict, and only they are in the partial index this reads.
  in.instance_conflicts =
      tx.exec_params1("SELECT count(*) FROM agents WHERE channel = $1 AND instance_conflict_at IS NOT NULL "
                      "AND instance_conflict_at >= now() - $2 * interval '1 millisecond'",
                      in.channel.id,
                      absl::ToInt64Milliseconds(rollout::kInstanceConflictPollIntervals * in.channel.poll_interval))[0]
          .as<int64_t>();
  return in;
}

}  // namespace

absl::StatusOr<RolloutInputs> PgStore::GetRolloutInputs(const std::string& channel_id) {
  return pool_.Run<RolloutInputs>("reading rollout status", [&](pqxx::connection& c) -> absl::StatusOr<RolloutInputs> {
    // One snapshot, so the counters agree with each other.
    pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::read_only> tx(c);
    pqxx::result r = tx.exec_params(absl::StrCat("SELECT ", ChannelColumns(), " FROM channels WHERE name = $1"),
                                    channel_id);
    if (r.empty()) return ChannelNotFound(channel_id);
    return ReadRolloutInputs(tx, r[0]);
  });
}

absl::StatusOr<std::vector<RolloutInputs>> PgStore::GetAllRolloutInputs() {
  return pool_.Run<std::vector<RolloutInputs>>(
      "reading fleet counters", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<RolloutInputs>> {
        pqxx::transaction<pqxx::isolation_level::repeatable_read, pqxx::read_only> tx(c);
        std::vector<RolloutInputs> out;
        for (const pqxx::row& row : tx.exec(absl::StrCat("SELECT ", ChannelColumns(), " FROM channels ORDER BY name"))) {
          absl::StatusOr<RolloutInputs> in = ReadRolloutInputs(tx, row);
          if (!in.ok()) return in.status();
          out.push_back(*std::move(in));
        }
        return out;
      });
}

}  // namespace drover::store
