#include "coordinator/store/pg_pool.h"

#include <chrono>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/rpc_reason.h"

namespace drover::store {

std::string WithNetworkTimeouts(absl::string_view conninfo) {
  static constexpr std::pair<const char*, const char*> kDefaults[] = {
      {"connect_timeout", "10"},     {"keepalives", "1"},      {"keepalives_idle", "10"},
      {"keepalives_interval", "5"}, {"keepalives_count", "3"}, {"tcp_user_timeout", "30000"}};
  const bool uri = absl::StartsWith(conninfo, "postgresql://") || absl::StartsWith(conninfo, "postgres://");
  std::string out(conninfo);
  for (const auto& [key, value] : kDefaults) {
    // A key is set when it starts the string, a parameter or a key=value pair.
    const std::string assignment = absl::StrCat(key, "=");
    bool set = absl::StartsWith(out, assignment);
    for (const char* sep : {"?", "&", " "}) set = set || absl::StrContains(out, absl::StrCat(sep, assignment));
    if (set) continue;
    if (uri) {
      absl::StrAppend(&out, absl::StrContains(out, "?") ? "&" : "?", assignment, value);
    } else {
      absl::StrAppend(&out, out.empty() ? "" : " ", assignment, value);
    }
  }
  return out;
}

PgPool::PgPool(std::string url, int size, OnConnect on_connect, absl::Duration hard_timeout)
    : url_(WithNetworkTimeouts(url)), size_(size), on_connect_(std::move(on_connect)), watchdog_(hard_timeout) {}

absl::Status PgPool::FrozenError(absl::string_view what, bool in_doubt) const {
  return WithReason(
      absl::UnavailableError(absl::StrCat(
          what, ": database unavailable: PostgreSQL did not answer within ", absl::FormatDuration(watchdog_.limit()),
          " (server stopped or storage stalled?); the connection was closed and a new one will be opened",
          in_doubt ? "; whether the commit happened is unknown" : "")),
      kReasonDatabaseUnavailable);
}

PgPool::~PgPool() = default;

PgPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->Release(std::move(conn_));
}

void PgPool::Release(std::unique_ptr<pqxx::connection> conn) {
  std::lock_guard<std::mutex> lock(mu_);
  --leased_;
  if (conn != nullptr && conn->is_open()) idle_.push_back(std::move(conn));
  cv_.notify_one();
}

void PgPool::DropIdle() {
  std::vector<std::unique_ptr<pqxx::connection>> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    dropped.swap(idle_);
  }
  cv_.notify_all();
  // Closed here, outside the lock.
}

absl::StatusOr<PgPool::Lease> PgPool::Acquire() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(5),
                      [&] { return leased_ + static_cast<int>(idle_.size()) < size_ || !idle_.empty(); })) {
      return WithReason(
          absl::UnavailableError(absl::StrCat("all ", size_, " database connections stay busy: retry later")),
          kReasonDatabaseUnavailable);
    }
    ++leased_;
    if (!idle_.empty()) {
      std::unique_ptr<pqxx::connection> c = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(c));
    }
  }
  // Open a new connection outside the lock; give the slot back on failure.
  try {
    auto conn = std::make_unique<pqxx::connection>(url_);
    if (on_connect_) {
      QueryWatchdog::Watch watch = watchdog_.Start(conn->sock());
      bool failed = false;
      try {
        on_connect_(*conn);
      } catch (const std::exception&) {
        if (!watch.fired()) throw;
        failed = true;
      }
      // Also when the answer came just as the socket was closed.
      if (failed || watch.fired()) {
        Release(nullptr);
        return FrozenError("setting up a PostgreSQL connection");
      }
    }
    return Lease(this, std::move(conn));
  } catch (const std::exception& e) {
    Release(nullptr);
    return PgErrorToStatus(e, "connecting to PostgreSQL");
  }
}

}  // namespace drover::store
