#include "coordinator/store/pg_util.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "common/rpc_reason.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "common/log.h"

namespace drover::store {

absl::Status PgErrorToStatus(const std::exception& e, absl::string_view what) {
  // The database's text goes to the log only: it can quote the request's
  // bytes back, name tables and settings, and is no business of a caller.
  std::string detail = e.what();
  absl::StrReplaceAll({{"\n\t", " | "}, {"\r\n", " | "}, {"\n", " | "}, {"\r", " | "}, {"\t", " "}}, &detail);
  while (absl::EndsWith(detail, " | ") || absl::EndsWith(detail, " ")) {
    detail.resize(detail.size() - (absl::EndsWith(detail, " | ") ? 3 : 1));
  }
  const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e);
  const std::string state = sql != nullptr ? sql->sqlstate() : "";
  LogWarning(absl::StrCat(what, ": PostgreSQL error", state.empty() ? "" : absl::StrCat(" (SQLSTATE ", state, ")"),
                          ": ", detail));
  const std::string unavailable =
      absl::StrCat(what, ": database unavailable (the coordinator's log says why); retry later");
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr ||
      dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return WithReason(absl::UnavailableError(unavailable), kReasonDatabaseUnavailable);
  }
  const std::string conflicted = absl::StrCat(what, ": conflicted with a concurrent change; retry");
  if (dynamic_cast<const pqxx::serialization_failure*>(&e) != nullptr ||
      dynamic_cast<const pqxx::deadlock_detected*>(&e) != nullptr) {
    return absl::AbortedError(conflicted);
  }
  if (sql != nullptr) {
    if (state == "23505") return absl::AlreadyExistsError(absl::StrCat(what, ": already exists"));
    if (state == "40001" || state == "40P01") return absl::AbortedError(conflicted);
    // Connection exceptions, admin shutdown, cannot connect now, read-only
    // standby, out of connections or disk: the database cannot serve now.
    if (state.rfind("08", 0) == 0 || state.rfind("53", 0) == 0 || state == "57P01" || state == "57P02" ||
        state == "57P03" || state == "25006") {
      return WithReason(absl::UnavailableError(unavailable), kReasonDatabaseUnavailable);
    }
    // Statement or lock timeout: busy, worth retrying later.
    if (state == "57014" || state == "55P03") {
      return WithReason(absl::UnavailableError(unavailable), kReasonDatabaseUnavailable);
    }
  }
  return absl::InternalError(absl::StrCat(what, ": internal database error (logged by the coordinator)"));
}

namespace {
void AppendQuoted(std::string* out, absl::string_view v) {
  out->push_back('"');
  for (char c : v) {
    if (c == '"' || c == '\\') out->push_back('\\');
    out->push_back(c);
  }
  out->push_back('"');
}
}  // namespace

void ArrayLiteral::Add(absl::string_view value) {
  Separate();
  AppendQuoted(&text_, value);
}

void ArrayLiteral::Add(int64_t value) {
  Separate();
  absl::StrAppend(&text_, value);
}

std::string ArrayLiteral::Finish() && {
  text_.push_back('}');
  return std::move(text_);
}

std::string TextArray(const std::vector<std::string>& values) {
  ArrayLiteral out;
  for (const std::string& v : values) out.Add(v);
  return std::move(out).Finish();
}

int64_t ToUnixMicros(absl::Time t) { return absl::ToUnixMicros(t); }
absl::Time FromUnixMicros(int64_t micros) { return absl::FromUnixMicros(micros); }

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

QueryWatchdog::QueryWatchdog(absl::Duration limit) : limit_(limit) {
  if (limit_ > absl::ZeroDuration()) thread_ = std::thread([this] { Loop(); });
}

QueryWatchdog::~QueryWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

QueryWatchdog::Watch QueryWatchdog::Start(int fd) {
  if (limit_ <= absl::ZeroDuration() || fd < 0) return Watch(nullptr, 0);
  // A descriptor of our own for the socket: libpq may close its own (a
  // failed connection) while we watch, and the number be reused elsewhere.
  const int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own < 0) return Watch(nullptr, 0);
  bool wake;
  uint64_t id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    id = next_id_++;
    entries_.emplace(id, Entry{own, std::chrono::steady_clock::now() + limit_chrono(), false});
    // A loop waiting for another entry's deadline wakes in time for this
    // one: every deadline is at least the limit away when set.
    wake = loop_idle_;
  }
  if (wake) cv_.notify_one();
  return Watch(this, id);
}

QueryWatchdog::Watch::~Watch() {
  if (dog_ == nullptr) return;
  int fd;
  {
    std::lock_guard<std::mutex> lock(dog_->mu_);
    auto it = dog_->entries_.find(id_);
    fd = it->second.fd;
    dog_->entries_.erase(it);
  }
  close(fd);
}

bool QueryWatchdog::Watch::fired() const {
  if (dog_ == nullptr) return false;
  std::lock_guard<std::mutex> lock(dog_->mu_);
  return dog_->entries_.at(id_).fired;
}

namespace {

// How long ago the socket last received data, when the kernel says (TCP).
std::optional<std::chrono::milliseconds> SinceLastReceived(int fd) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  // An older kernel may fill in less than this libc's struct; the field is old.
  constexpr socklen_t kNeeded = offsetof(tcp_info, tcpi_last_data_recv) + sizeof(info.tcpi_last_data_recv);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 || len < kNeeded) return std::nullopt;
  return std::chrono::milliseconds(info.tcpi_last_data_recv);
}

}  // namespace

void QueryWatchdog::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    // The earliest deadline not yet fired (a pool has a handful of entries).
    auto next = entries_.end();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (!it->second.fired && (next == entries_.end() || it->second.deadline < next->second.deadline)) next = it;
    }
    if (next == entries_.end()) {
      loop_idle_ = true;
      cv_.wait(lock);
      loop_idle_ = false;
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now < next->second.deadline) {
      cv_.wait_until(lock, next->second.deadline);
      continue;
    }
    // A transaction of several statements, each answered in time, is not
    // frozen: over TCP, the limit counts from the last data received.
    if (std::optional<std::chrono::milliseconds> quiet = SinceLastReceived(next->second.fd);
        quiet.has_value() && *quiet < limit_chrono()) {
      next->second.deadline = now + (limit_chrono() - *quiet);
      continue;
    }
    next->second.fired = true;
    fired_total_.fetch_add(1, std::memory_order_relaxed);
    ::shutdown(next->second.fd, SHUT_RDWR);
    lock.unlock();
    LogWarning(absl::StrCat("PostgreSQL sent nothing for ", absl::FormatDuration(limit_),
                            " while a statement was waiting: closed its connection"));
    lock.lock();
  }
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
