// PgStore: applying batches of reports (sql/ingest_round.sql, the hot path).
#include <algorithm>
#include <array>
#include <optional>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "coordinator/rollout/report_apply.h"
#include "coordinator/rollout/staleness.h"
#include "coordinator/rollout/target_epoch.h"
#include "coordinator/store/pg_rows.h"
#include "coordinator/store/pg_store.h"
#include "coordinator/store/pg_values.h"
#include "coordinator/store/sql_files.h"

namespace drover::store {
namespace {

// A round this many times over means hosts keep racing with another replica.
constexpr int kMaxRounds = 8;

}  // namespace

absl::StatusOr<std::vector<ReportResult>> PgStore::ApplyReports(
    const std::vector<const rollout::AgentReport*>& reports) {
  std::vector<ReportResult> results(reports.size());
  std::vector<std::string> hosts;
  hosts.reserve(reports.size());
  for (const auto* r : reports) hosts.push_back(r->host_id);
  // The rules' constants, $19..$23 of the statement.
  IngestConstants fixed;
  fixed.counter_shards = absl::StrCat(kCounterShards);
  fixed.seen_bucket_ms = absl::StrCat(Millis(rollout::kSeenBucket));
  fixed.clock_allowance_ms = absl::StrCat(Millis(rollout::kOutcomeClockAllowance));
  // $22, $23: one reading of the clock for the whole batch, the same the
  // refused reports are classified by.
  const absl::Time now = clock_->Now();
  fixed.now_us = absl::StrCat(absl::ToUnixMicros(now));
  fixed.sequence_lead_us = absl::StrCat(absl::ToInt64Microseconds(rollout::kMaxSequenceLead));
  absl::StatusOr<bool> citus = UsesCitus();
  if (!citus.ok()) return citus.status();

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

    // The round's writes: all of it at once on plain PostgreSQL; on Citus,
    // one call per worker, which writes each of its shards' part in one
    // local transaction there (sql/citus_ingest_round.sql).
    std::vector<std::vector<RoundPart>> calls;
    if (*citus) {
      absl::StatusOr<std::vector<RoundPart>> split = SplitByShard(ingest_pool_, hosts, round.now);
      if (!split.ok()) {
        if (!committed_any) return split.status();
        for (size_t i : pending) results[i].status = split.status();
        break;
      }
      // One call per worker, workers in node order (parts stay in anchor order).
      absl::btree_map<int64_t, std::vector<RoundPart>> by_node;
      for (RoundPart& part : *split) by_node[part.node].push_back(std::move(part));
      for (auto& [node, call] : by_node) calls.push_back(std::move(call));
    } else {
      calls.push_back({RoundPart{.reports = round.now}});
    }
    std::vector<std::pair<size_t, pqxx::row>> not_applied;  // (report, its row)
    std::vector<pqxx::result> written_calls;
    written_calls.reserve(calls.size());
    absl::flat_hash_set<size_t> written_now;
    absl::Status failed;
    for (const std::vector<RoundPart>& call : calls) {
      absl::StatusOr<pqxx::result> written = WriteRoundParts(reports, call, fixed);
      if (!written.ok()) {
        failed = written.status();
        break;
      }
      committed_any = true;
      std::vector<size_t> in_call;
      for (const RoundPart& part : call) in_call.insert(in_call.end(), part.reports.begin(), part.reports.end());
      for (size_t i : in_call) {
        results[i].disposition = rollout::ReportDisposition::kAccepted;
        results[i].stored_sequence = reports[i]->sequence;
        written_now.insert(i);
      }
      written_calls.push_back(*std::move(written));
      for (const pqxx::row& row : written_calls.back()) {
        not_applied.emplace_back(in_call.at(row["ordinal"].as<size_t>() - 1), row);
      }
    }
    if (!failed.ok()) {
      // Nothing of this call (or later ones) is stored; earlier ones are.
      if (!committed_any) return failed;
      for (size_t i : pending) {
        if (!written_now.contains(i)) results[i].status = failed;
      }
      // The written calls' refusals are still classified below; no more rounds.
    }

    std::vector<size_t> retry;
    for (const auto& [i, row] : not_applied) {
      std::optional<int64_t> stored;
      if (!row["stored_sequence"].is_null()) stored = row["stored_sequence"].as<int64_t>();
      ReportResult& out = results[i];
      switch (rollout::ClassifyNotApplied(row["channel_exists"].as<bool>(), reports[i]->sequence, stored, now)) {
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
        case rollout::NotApplied::kSequenceTooFarAhead:
          out.disposition = rollout::ReportDisposition::kSequenceTooFarAhead;
          out.stored_sequence = stored.value_or(0);
          break;
        case rollout::NotApplied::kRetry:
          retry.push_back(i);
          break;
      }
    }
    if (!failed.ok()) {
      for (size_t i : retry) results[i].status = failed;
      break;
    }
    if (!retry.empty()) ingest_pool_.CountRetry();
    // Back in arrival order, so a retried report still precedes its host's later ones.
    retry.insert(retry.end(), round.later.begin(), round.later.end());
    std::sort(retry.begin(), retry.end());
    pending = std::move(retry);
  }
  return results;
}

absl::StatusOr<bool> PgStore::UsesCitus() {
  const int known = citus_.load(std::memory_order_acquire);
  if (known >= 0) return known == 1;
  absl::StatusOr<bool> citus = pool_.Run<bool>("reading the database's mode", [](pqxx::connection& c) -> absl::StatusOr<bool> {
    pqxx::nontransaction tx(c);
    return tx.exec1(Sql("citus_mode"))[0].as<bool>();
  });
  if (citus.ok()) citus_.store(*citus ? 1 : 0, std::memory_order_release);
  return citus;
}

absl::StatusOr<std::vector<PgStore::RoundPart>> PgStore::SplitByShard(PgPool& pool,
                                                                      const std::vector<std::string>& hosts,
                                                                      const std::vector<size_t>& ids) {
  ArrayLiteral host_id;
  for (size_t i : ids) host_id.Add(hosts[i]);
  const std::string host_ids = std::move(host_id).Finish();
  absl::StatusOr<pqxx::result> anchors = pool.Run<pqxx::result>(
      "finding the reports' shards", [&](pqxx::connection& c) -> absl::StatusOr<pqxx::result> {
        pqxx::nontransaction tx(c);
        return tx.exec_params(Sql("citus_anchors_of"), host_ids);
      });
  if (!anchors.ok()) return anchors.status();
  std::vector<RoundPart> parts;
  absl::flat_hash_map<std::string, size_t> part_of;
  std::vector<size_t> part_of_id(ids.size(), SIZE_MAX);
  for (const pqxx::row& row : *anchors) {
    const size_t k = row["ordinal"].as<size_t>() - 1;
    auto [it, added] = part_of.emplace(row["anchor"].as<std::string>(), parts.size());
    if (added) parts.push_back(RoundPart{.anchor = it->first, .node = row["groupid"].as<int64_t>()});
    part_of_id.at(k) = it->second;
  }
  // Parts in anchor order, hosts in the round's (key) order within each:
  // replicas writing overlapping hosts lock shards and rows in the same order.
  std::vector<size_t> by_anchor(parts.size());
  for (size_t p = 0; p < parts.size(); ++p) by_anchor[p] = p;
  std::sort(by_anchor.begin(), by_anchor.end(), [&](size_t a, size_t b) { return parts[a].anchor < parts[b].anchor; });
  std::vector<size_t> rank(parts.size());
  for (size_t r = 0; r < by_anchor.size(); ++r) rank[by_anchor[r]] = r;
  std::vector<RoundPart> sorted(parts.size());
  for (size_t p = 0; p < parts.size(); ++p) sorted[rank[p]] = std::move(parts[p]);
  parts = std::move(sorted);
  for (size_t& p : part_of_id) {
    if (p != SIZE_MAX) p = rank[p];
  }
  for (size_t k = 0; k < ids.size(); ++k) {
    if (part_of_id[k] == SIZE_MAX) {
      return absl::InternalError(absl::StrCat("no counter anchor for the shard of host \"", hosts[ids[k]],
                                              "\": run SELECT drover_refresh_counter_anchors() after changing shards"));
    }
    parts[part_of_id[k]].reports.push_back(ids[k]);
  }
  return parts;
}

namespace {

// A round part's statement parameters, $1..$24 as ingest_round.sql numbers
// them (IngestConstants are $19..$23).
std::array<std::string, 24> PartParameters(const std::vector<const rollout::AgentReport*>& reports,
                                           const std::vector<size_t>& part, const std::string& counter_shards,
                                           const std::string& seen_bucket_ms, const std::string& clock_allowance_ms,
                                           const std::string& now_us, const std::string& sequence_lead_us) {
  ArrayLiteral host_id, channel, group, version, health, updater_version, sequence, instance_id, schedule_state,
      last_result, last_result_version, updating_to;
  ArrayLiteral outcome_report, from_version, to_version, result, error, started, finished;
  for (size_t k = 0; k < part.size(); ++k) {
    const rollout::AgentReport& r = *reports[part[k]];
    host_id.Add(r.host_id);
    channel.Add(r.channel);
    group.Add(r.group);
    version.Add(r.current_version);
    health.Add(static_cast<int64_t>(r.health));
    updater_version.Add(r.updater_version);
    sequence.Add(r.sequence);
    instance_id.Add(r.instance_id);
    schedule_state.Add(static_cast<int64_t>(r.schedule_state));
    const rollout::UpdateOutcome* last = rollout::LastOutcome(r);
    last_result.Add(last == nullptr ? int64_t{0} : static_cast<int64_t>(last->result));
    last_result_version.Add(last == nullptr ? absl::string_view() : absl::string_view(last->to_version));
    updating_to.Add(r.updating_to);
    for (const rollout::UpdateOutcome& o : r.outcomes) {
      outcome_report.Add(static_cast<int64_t>(k + 1));
      from_version.Add(o.from_version);
      to_version.Add(o.to_version);
      result.Add(static_cast<int64_t>(o.result));
      error.Add(o.error);
      started.Add(store::ToUnixMicros(o.start_time));
      finished.Add(store::ToUnixMicros(o.finish_time));
    }
  }
  return {std::move(host_id).Finish(),        std::move(channel).Finish(),
          std::move(group).Finish(),          std::move(version).Finish(),
          std::move(health).Finish(),         std::move(updater_version).Finish(),
          std::move(sequence).Finish(),       std::move(outcome_report).Finish(),
          std::move(from_version).Finish(),   std::move(to_version).Finish(),
          std::move(result).Finish(),         std::move(error).Finish(),
          std::move(started).Finish(),        std::move(finished).Finish(),
          std::move(instance_id).Finish(),    std::move(schedule_state).Finish(),
          std::move(last_result).Finish(),    std::move(last_result_version).Finish(),
          counter_shards,                     seen_bucket_ms,
          clock_allowance_ms,                 now_us,
          sequence_lead_us,                   std::move(updating_to).Finish()};
}

}  // namespace

absl::StatusOr<pqxx::result> PgStore::WriteRoundParts(const std::vector<const rollout::AgentReport*>& reports,
                                                      const std::vector<RoundPart>& parts,
                                                      const IngestConstants& fixed) {
  // Built once: the pool may run the statement again (deadlock, stale
  // connection).
  std::vector<std::array<std::string, 24>> values;
  values.reserve(parts.size());
  for (const RoundPart& part : parts) {
    values.push_back(PartParameters(reports, part.reports, fixed.counter_shards, fixed.seen_bucket_ms,
                                    fixed.clock_allowance_ms, fixed.now_us, fixed.sequence_lead_us));
  }
  if (parts.size() == 1 && parts[0].anchor.empty()) {
    const std::array<std::string, 24>& v = values[0];
    return ingest_pool_.Run<pqxx::result>(
        "storing reports", [&](pqxx::connection& conn) -> absl::StatusOr<pqxx::result> {
          pqxx::nontransaction tx(conn);
          return tx.exec_prepared(kIngestStatement, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9],
                                  v[10], v[11], v[12], v[13], v[14], v[15], v[16], v[17], v[18], v[19], v[20],
                                  v[21], v[22], v[23]);
        });
  }
  // Citus: parameter k of every part as one array (element i: part i's),
  // the anchors ($25 of each part's statement) and where each part's
  // ordinals start.
  std::array<std::string, 24> columns;
  for (size_t k = 0; k < columns.size(); ++k) {
    ArrayLiteral column;
    for (const auto& v : values) column.Add(v[k]);
    columns[k] = std::move(column).Finish();
  }
  ArrayLiteral anchors, offsets;
  int64_t before = 0;
  for (const RoundPart& part : parts) {
    anchors.Add(part.anchor);
    offsets.Add(before);
    before += static_cast<int64_t>(part.reports.size());
  }
  const std::string anchor_list = std::move(anchors).Finish();
  const std::string offset_list = std::move(offsets).Finish();
  const std::string& c = anchor_list;
  return ingest_pool_.Run<pqxx::result>(
      "storing reports", [&](pqxx::connection& conn) -> absl::StatusOr<pqxx::result> {
        pqxx::nontransaction tx(conn);
        // Delegated by Citus to the worker holding the first anchor's shard,
        // which holds the others' too.
        return tx.exec_prepared(kIngestStatement, parts[0].anchor, Sql("citus_ingest_round"), kCitusIngestSettings,
                                c, columns[0], columns[1], columns[2], columns[3], columns[4], columns[5],
                                columns[6], columns[7], columns[8], columns[9], columns[10], columns[11],
                                columns[12], columns[13], columns[14], columns[15], columns[16], columns[17],
                                columns[18], columns[19], columns[20], columns[21], columns[22], columns[23], c,
                                offset_list);
      });
}

}  // namespace drover::store
