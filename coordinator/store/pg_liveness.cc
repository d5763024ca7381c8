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
  ArrayLiteral host_id, seen, sequence;
  absl::flat_hash_map<std::string, size_t> index;
  index.reserve(beats.size());
  for (size_t i : order) {
    host_id.Add(beats[i].host_id);
    seen.Add(store::ToUnixMicros(beats[i].last_seen));
    sequence.Add(beats[i].sequence);
    index.emplace(beats[i].host_id, i);
  }
  const std::string hosts = std::move(host_id).Finish();
  const std::string seen_us = std::move(seen).Finish();
  const std::string sequences = std::move(sequence).Finish();
  const std::string counter_shards = absl::StrCat(kCounterShards);
  const std::string seen_bucket_ms = absl::StrCat(absl::ToInt64Milliseconds(rollout::kSeenBucket));
  absl::StatusOr<pqxx::result> result =
      pool_.Run<pqxx::result>("writing heartbeats", [&](pqxx::connection& c) -> absl::StatusOr<pqxx::result> {
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
  if (!result.ok()) return result.status();
  for (const pqxx::row& row : *result) {
    auto it = index.find(row["host_id"].as<std::string>());
    if (it == index.end()) continue;
    (row["missing"].as<bool>() ? out.missing : out.retry).push_back(it->second);
  }
  return out;
}

}  // namespace drover::store
