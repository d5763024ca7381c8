// PgStore: heartbeats written in bulk (sql/liveness_flush.sql).
#include <algorithm>
#include <numeric>

#include "absl/container/flat_hash_map.h"

#include "absl/strings/str_cat.h"
#include "coordinator/rollout/staleness.h"
#include "coordinator/store/pg_store.h"
#include "coordinator/store/pg_values.h"
#include "coordinator/store/sql_files.h"

namespace drover::store {

absl::StatusOr<LivenessNotWritten> PgStore::WriteLiveness(const std::vector<HostBeat>& beats) {
  LivenessNotWritten out;
  if (beats.empty()) return out;
  // Hosts in key order, so that the flush locks rows in the order the
  // ingest statement does (no deadlock between them).
  std::vector<size_t> order(beats.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return beats[a].host_id < beats[b].host_id; });
  const std::string counter_shards = absl::StrCat(kCounterShards);
  const std::string seen_bucket_ms = absl::StrCat(absl::ToInt64Milliseconds(rollout::kSeenBucket));
  absl::StatusOr<bool> citus = UsesCitus();
  if (!citus.ok()) return citus.status();
  // All of it at once on plain PostgreSQL; on Citus, one statement per
  // shard, run by the worker holding it (sql/citus_liveness_flush.sql).
  std::vector<RoundPart> parts;
  if (*citus) {
    std::vector<std::string> hosts;
    hosts.reserve(beats.size());
    for (const HostBeat& b : beats) hosts.push_back(b.host_id);
    absl::StatusOr<std::vector<RoundPart>> split = SplitByShard(pool_, hosts, order);
    if (!split.ok()) return split.status();
    parts = *std::move(split);
  } else {
    parts.push_back(RoundPart{.reports = order});
  }
  absl::flat_hash_map<std::string, size_t> index;
  index.reserve(beats.size());
  for (size_t i : order) index.emplace(beats[i].host_id, i);
  for (size_t p = 0; p < parts.size(); ++p) {
    ArrayLiteral host_id, seen, sequence;
    for (size_t i : parts[p].reports) {
      host_id.Add(beats[i].host_id);
      seen.Add(store::ToUnixMicros(beats[i].last_seen));
      sequence.Add(beats[i].sequence);
    }
    const std::string hosts = std::move(host_id).Finish();
    const std::string seen_us = std::move(seen).Finish();
    const std::string sequences = std::move(sequence).Finish();
    const std::string& anchor = parts[p].anchor;
    absl::StatusOr<pqxx::result> result =
        pool_.Run<pqxx::result>("writing heartbeats", [&](pqxx::connection& c) -> absl::StatusOr<pqxx::result> {
          if (!anchor.empty()) {
            // Delegated by Citus to the worker holding the anchor's shard,
            // with the settings below for its transaction there.
            pqxx::nontransaction tx(c);
            return tx.exec_params(Sql("citus_liveness_call"), anchor, Sql("citus_liveness_flush"),
                                  "{synchronous_commit,off,enable_seqscan,off}", hosts, seen_us, sequences,
                                  counter_shards, seen_bucket_ms, anchor);
          }
          pqxx::work tx(c);
          // Liveness only: losing the last flushes in a crash makes it lag,
          // which the heartbeat design allows for (rollout/heartbeat.h).
          tx.exec("SET LOCAL synchronous_commit = off");
          // As on the ingest connections: rows are reached by key and tuple
          // id. A plan that scanned agents instead took over 15 s a
          // statement at 1,000,000 hosts (and hit the statement timeout).
          tx.exec("SET LOCAL enable_seqscan = off");
          pqxx::result r = tx.exec_params(Sql("liveness_flush"), hosts, seen_us, sequences, counter_shards,
                                          seen_bucket_ms);
          tx.commit();
          return r;
        });
    // Earlier parts are written; the caller writes every beat again (moving
    // last_seen up only, which those parts already did, changes nothing), and
    // counts the failure.
    if (!result.ok()) return result.status();
    for (const pqxx::row& row : *result) {
      auto it = index.find(row["host_id"].as<std::string>());
      if (it == index.end()) continue;
      (row["missing"].as<bool>() ? out.missing : out.retry).push_back(it->second);
    }
  }
  return out;
}

}  // namespace drover::store
