#include "coordinator/ingest/liveness.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "coordinator/rollout/heartbeat.h"

namespace drover::ingest {

LivenessTracker::LivenessTracker(store::LivenessWriter* store, const Clock* clock, IngestMetrics* metrics,
                                 LivenessOptions options)
    : store_(store), clock_(clock), metrics_(metrics), options_(options) {}

LivenessTracker::~LivenessTracker() { Shutdown(); }

void LivenessTracker::Start() {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (flusher_.joinable() || stopping_) return;
  flusher_ = std::thread([this] { FlusherLoop(); });
}

void LivenessTracker::Shutdown(absl::Duration budget) {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    if (stopping_) return;
    stopping_ = true;
    stop_flag_.store(true, std::memory_order_release);
  }
  stop_cv_.notify_all();
  if (flusher_.joinable()) flusher_.join();
  // What came in since the flusher's last pass, and what it left.
  const absl::Time deadline = clock_->Now() + budget;
  Flush(deadline);
  if (const size_t left = pending(); left > 0) {
    LogWarning(absl::StrCat("shutdown: ", left, " heartbeats not written within ", absl::FormatDuration(budget),
                            ": those hosts' last_seen lags as after a crash"));
  }
}

void LivenessTracker::FlusherLoop() {
  std::unique_lock<std::mutex> lock(stop_mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lock, absl::ToChronoNanoseconds(options_.flush_interval), [&] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    Flush();
    lock.lock();
  }
}

LivenessTracker::Digest LivenessTracker::DigestOf(const rollout::AgentReport& report) {
  // SHA-256 cut to 128 bits: equal digests stand for equal fields (a
  // collision would take ~2^64 reports of one host).
  const std::string fields = rollout::DurableFields(report);
  unsigned char full[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  Digest d{};
  if (EVP_Digest(fields.data(), fields.size(), full, &length, EVP_sha256(), nullptr) == 1 && length >= d.size()) {
    std::memcpy(d.data(), full, d.size());
  }
  return d;
}

LivenessTracker::Shard& LivenessTracker::ShardOf(const std::string& host_id) {
  return shards_[absl::HashOf(host_id) % kShards];
}

std::optional<store::ReportResult> LivenessTracker::TryHeartbeat(const rollout::AgentReport& report,
                                                                 std::optional<Digest>* computed) {
  // Cheap refusals first: most non-heartbeats are told by these alone.
  if (!report.outcomes.empty() || report.previous_sequence == 0) return std::nullopt;
  const Digest digest = DigestOf(report);
  if (computed != nullptr) *computed = digest;
  const absl::Time now = clock_->Now();
  Shard& shard = ShardOf(report.host_id);
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.hosts.find(report.host_id);
  if (it == shard.hosts.end()) return std::nullopt;
  Entry& e = it->second;
  const rollout::LastHandled last{.sequence = e.sequence, .same_durable_fields = e.digest == digest};
  if (!rollout::IsHeartbeat(report, last, now)) return std::nullopt;
  e.sequence = report.sequence;
  e.last_seen = std::max(e.last_seen, now);
  if (!e.dirty) pending_.fetch_add(1, std::memory_order_relaxed);
  e.dirty = true;
  store::ReportResult result;
  result.disposition = rollout::ReportDisposition::kAccepted;
  result.stored_sequence = report.sequence;
  return result;
}

void LivenessTracker::Handled(const rollout::AgentReport& report, const absl::Status& status,
                              const store::ReportResult& result, const std::optional<Digest>& digest) {
  const bool applied = status.ok() && result.status.ok() && result.disposition == rollout::ReportDisposition::kAccepted;
  // Outside the shard's lock, and only when TryHeartbeat did not already.
  const Digest fields = !applied ? Digest{} : digest ? *digest : DigestOf(report);
  Shard& shard = ShardOf(report.host_id);
  std::lock_guard<std::mutex> lock(shard.mu);
  auto it = shard.hosts.find(report.host_id);
  if (!applied || (it != shard.hosts.end() && it->second.sequence >= report.sequence)) {
    // Not stored, or a heartbeat of a later sequence came meanwhile (only a
    // confused or cloned updater does that): nothing to build on.
    if (it != shard.hosts.end()) Erase(shard, it);
    return;
  }
  if (it == shard.hosts.end()) {
    if (size_.load(std::memory_order_relaxed) >= options_.max_hosts) return;
    it = shard.hosts.try_emplace(report.host_id).first;
    size_.fetch_add(1, std::memory_order_relaxed);
  }
  Entry& e = it->second;
  e.digest = fields;
  e.sequence = report.sequence;
  // The commit wrote last_seen (PostgreSQL's clock): nothing to flush.
  e.last_seen = clock_->Now();
  if (e.dirty) pending_.fetch_sub(1, std::memory_order_relaxed);
  e.dirty = false;
}

size_t LivenessTracker::Flush(absl::Time deadline) {
  std::lock_guard<std::mutex> flush_lock(flush_mu_);
  const absl::Time start = clock_->Now();
  const absl::Time forget_before = start - options_.forget_after;
  std::vector<store::HostBeat> beats;
  for (Shard& shard : shards_) {
    std::lock_guard<std::mutex> lock(shard.mu);
    for (auto it = shard.hosts.begin(); it != shard.hosts.end();) {
      Entry& e = it->second;
      if (e.dirty) {
        beats.push_back({it->first, e.last_seen, e.sequence});
        e.dirty = false;
        pending_.fetch_sub(1, std::memory_order_relaxed);
      } else if (e.last_seen < forget_before) {
        Erase(shard, it++);
        continue;
      }
      ++it;
    }
  }
  // Marks a beat to be written again, unless the host was forgotten or
  // handled again meanwhile (then what is remembered is newer).
  auto again = [&](const store::HostBeat& b) {
    Shard& shard = ShardOf(b.host_id);
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.hosts.find(b.host_id);
    if (it != shard.hosts.end() && !it->second.dirty && it->second.last_seen >= b.last_seen) {
      it->second.dirty = true;
      pending_.fetch_add(1, std::memory_order_relaxed);
    }
  };
  auto forget = [&](const store::HostBeat& b) {
    Shard& shard = ShardOf(b.host_id);
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.hosts.find(b.host_id);
    if (it != shard.hosts.end() && it->second.sequence == b.sequence) Erase(shard, it);
  };
  size_t written = 0;
  bool ok = true;
  const bool final_flush = stop_flag_.load(std::memory_order_acquire);
  for (size_t begin = 0; begin < beats.size(); begin += options_.flush_batch) {
    const size_t end = std::min(beats.size(), begin + options_.flush_batch);
    // The flusher gives way to the shutdown's own flush; that one to its
    // deadline. What is left stays pending.
    if ((!final_flush && stop_flag_.load(std::memory_order_acquire)) || clock_->Now() >= deadline) {
      for (size_t i = begin; i < beats.size(); ++i) again(beats[i]);
      break;
    }
    std::vector<store::HostBeat> chunk(std::make_move_iterator(beats.begin() + begin),
                                       std::make_move_iterator(beats.begin() + end));
    absl::StatusOr<store::LivenessNotWritten> r = store_->WriteLiveness(chunk);
    if (!r.ok()) {
      // Kept for the next flush (the database may be back by then).
      ok = false;
      metrics_->CountDatabaseError("write_liveness");
      for (const store::HostBeat& b : chunk) again(b);
      continue;
    }
    written += chunk.size() - r->retry.size() - r->missing.size();
    for (size_t i : r->retry) again(chunk[i]);
    for (size_t i : r->missing) forget(chunk[i]);
  }
  metrics_->ObserveLivenessFlush(written, clock_->Now() - start, ok);
  metrics_->SetLiveness(hosts(), pending());
  return written;
}

size_t LivenessTracker::hosts() const { return size_.load(std::memory_order_relaxed); }

size_t LivenessTracker::pending() const { return pending_.load(std::memory_order_relaxed); }

void LivenessTracker::Erase(Shard& shard, absl::flat_hash_map<std::string, Entry>::iterator it) {
  if (it->second.dirty) pending_.fetch_sub(1, std::memory_order_relaxed);
  shard.hosts.erase(it);
  size_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace drover::ingest
