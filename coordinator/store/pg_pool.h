// A small pool of PostgreSQL connections with the network time limits, the
// retries and the query watchdog every coordinator transaction runs under.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "coordinator/store/pg_errors.h"
#include "coordinator/store/query_watchdog.h"

namespace drover::store {

// The connection string with libpq's network time limits added where the
// operator's string does not set them: connect within 10 s, probe an idle
// connection after 10 s (every 5 s, 3 times), and give up on data the server
// has not acknowledged for 30 s. Without them a database cut off by a silent
// network failure (no reset) would hang a query, and so an RPC or a SIGTERM
// drain, for the kernel's default of hours. Accepts both URIs
// (postgresql://...) and key=value strings.
std::string WithNetworkTimeouts(absl::string_view conninfo);

// A fixed-size pool of connections. A connection that broke is dropped and a
// new one opened on the next Acquire, so the pool heals when the database
// comes back. A Run during which the server sends nothing for `hard_timeout`
// (its statement_timeout plus a margin; zero: no limit) loses its connection
// and gets Unavailable (see QueryWatchdog).
class PgPool {
 public:
  using OnConnect = std::function<void(pqxx::connection&)>;

  PgPool(std::string url, int size, OnConnect on_connect, absl::Duration hard_timeout = absl::ZeroDuration());
  ~PgPool();

  class Lease {
   public:
    Lease(PgPool* pool, std::unique_ptr<pqxx::connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& o) noexcept : pool_(o.pool_), conn_(std::move(o.conn_)) { o.pool_ = nullptr; }
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    pqxx::connection& conn() { return *conn_; }
    // Call after an error that may have broken the connection.
    void Discard() { conn_.reset(); }

   private:
    PgPool* pool_;
    std::unique_ptr<pqxx::connection> conn_;
  };

  // Waits up to 5 s while every connection is leased. Unavailable when none
  // frees up or a new connection cannot be opened.
  absl::StatusOr<Lease> Acquire();

  // Transactions run again after a serialization failure, deadlock or lost
  // race, since start.
  int64_t retries() const { return retries_.load(std::memory_order_relaxed); }
  // For callers that retry part of their work themselves.
  void CountRetry() { retries_.fetch_add(1, std::memory_order_relaxed); }
  // Connections closed because PostgreSQL stopped answering, since start.
  int64_t watchdog_closes() const { return watchdog_.fired_total(); }

  // Runs `fn` in a fresh transaction-capable lease, retrying Aborted results
  // (serialization failures, deadlocks) a few times. Exceptions from `fn` are
  // mapped with PgErrorToStatus(what); a broken connection is discarded.
  template <typename T>
  absl::StatusOr<T> Run(absl::string_view what, const std::function<absl::StatusOr<T>(pqxx::connection&)>& fn);

 private:
  void Release(std::unique_ptr<pqxx::connection> conn);
  // Closes every idle connection (leased ones come back as usual).
  void DropIdle();
  // `in_doubt`: a commit was under way, so whether it happened is unknown.
  absl::Status FrozenError(absl::string_view what, bool in_doubt = false) const;

  const std::string url_;
  const int size_;
  const OnConnect on_connect_;
  QueryWatchdog watchdog_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  int leased_ = 0;
  std::atomic<int64_t> retries_{0};
};

template <typename T>
absl::StatusOr<T> PgPool::Run(absl::string_view what,
                              const std::function<absl::StatusOr<T>(pqxx::connection&)>& fn) {
  absl::Status last;
  bool broken_retried = false;
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (attempt > 0) retries_.fetch_add(1, std::memory_order_relaxed);
    absl::StatusOr<Lease> lease = Acquire();
    if (!lease.ok()) return lease.status();
    // Ends before the lease returns the connection (and its socket).
    QueryWatchdog::Watch watch = watchdog_.Start(lease->conn().sock());
    try {
      absl::StatusOr<T> result = fn(lease->conn());
      // Answered just as the watchdog closed the socket: the connection is spent.
      if (watch.fired()) lease->Discard();
      if (result.ok() || !IsRetryable(result.status())) return result;
      last = result.status();
    } catch (const pqxx::in_doubt_error& e) {
      // The commit may or may not have happened: not retried here (clients
      // retry, and reports are idempotent).
      lease->Discard();
      return watch.fired() ? FrozenError(what, /*in_doubt=*/true) : PgErrorToStatus(e, what);
    } catch (const pqxx::broken_connection& e) {
      lease->Discard();
      // A frozen server would freeze the next connection too: give up now.
      if (watch.fired()) return FrozenError(what);
      // An idle pooled connection found dead (the database restarted): try
      // once more on a fresh one before giving up. The other idle ones
      // were opened to the same server and are dead too: closed, so that
      // the retry does open a fresh one.
      DropIdle();
      last = PgErrorToStatus(e, what);
      if (broken_retried) return last;
      broken_retried = true;
      continue;
    } catch (const std::exception& e) {
      if (watch.fired()) {
        lease->Discard();
        return FrozenError(what);
      }
      last = PgErrorToStatus(e, what);
      if (last.code() == absl::StatusCode::kUnavailable || !lease->conn().is_open()) lease->Discard();
      if (!IsRetryable(last)) return last;
    }
  }
  return last;
}

}  // namespace drover::store
