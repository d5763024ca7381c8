// PostgreSQL helpers: a small connection pool, error -> absl::Status mapping,
// array literals (libpqxx 6.4 has no container-to-array conversion) and time.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "absl/strings/string_view.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace drover::store {

// The connection string with libpq's network time limits added where the
// operator's string does not set them: connect within 10 s, probe an idle
// connection after 10 s (every 5 s, 3 times), and give up on data the server
// has not acknowledged for 30 s. Without them a database cut off by a silent
// network failure (no reset) would hang a query, and so an RPC or a SIGTERM
// drain, for the kernel's default of hours. Accepts both URIs
// (postgresql://...) and key=value strings.
std::string WithNetworkTimeouts(absl::string_view conninfo);

// Maps a libpqxx exception to a canonical status: lost or refused connections
// and server shutdown -> Unavailable; unique violation -> AlreadyExists;
// serialization failures and deadlocks -> Aborted (retryable); anything else
// -> Internal. `what` says which operation failed. The database's own text
// is logged, never put in the status: statuses reach callers.
absl::Status PgErrorToStatus(const std::exception& e, absl::string_view what);

// True for statuses worth retrying the whole transaction for.
inline bool IsRetryable(const absl::Status& s) { return s.code() == absl::StatusCode::kAborted; }

// {"a","b\"c"}: a PostgreSQL text[] literal, every element quoted.
std::string TextArray(const std::vector<std::string>& values);

// Builds one array literal element by element, without a vector of copies.
class ArrayLiteral {
 public:
  ArrayLiteral() : text_("{") {}
  void Add(absl::string_view value);  // quoted, for text[]
  void Add(int64_t value);            // for smallint[] and bigint[]
  // The literal; the builder is spent.
  std::string Finish() &&;

 private:
  void Separate() {
    if (text_.size() > 1) text_.push_back(',');
  }
  std::string text_;
};

int64_t ToUnixMicros(absl::Time t);
absl::Time FromUnixMicros(int64_t micros);

// Closes the socket of a connection waiting on a PostgreSQL that has sent
// nothing for a limit. A server that is frozen rather than gone (its
// processes stopped, its storage stalled, its VM paused) still acknowledges
// TCP, so neither keepalives nor the TCP user timeout end the wait, and its
// own statement_timeout cannot fire: without this, one such statement would
// hold the ingest writer, and every report behind it, indefinitely. Closing
// the socket makes libpq fail at once with a broken connection.
//
// The limit counts from when the watch started or, over TCP, from the last
// data the server sent, so a transaction of many statements each answered in
// time is left alone. Over a Unix socket it bounds the whole watch.
class QueryWatchdog {
 public:
  // A limit of zero or less watches nothing.
  explicit QueryWatchdog(absl::Duration limit);
  ~QueryWatchdog();
  QueryWatchdog(const QueryWatchdog&) = delete;
  QueryWatchdog& operator=(const QueryWatchdog&) = delete;

  absl::Duration limit() const { return limit_; }

  // Watches the socket of `fd` (through a descriptor of its own) until the
  // Watch is destroyed.
  class Watch {
   public:
    Watch(Watch&& o) noexcept : dog_(o.dog_), id_(o.id_) { o.dog_ = nullptr; }
    Watch& operator=(Watch&&) = delete;
    ~Watch();
    // True once the watchdog closed the socket.
    bool fired() const;

   private:
    friend class QueryWatchdog;
    Watch(QueryWatchdog* dog, uint64_t id) : dog_(dog), id_(id) {}
    QueryWatchdog* dog_;
    uint64_t id_;
  };
  [[nodiscard]] Watch Start(int fd);

  // Sockets closed since start.
  int64_t fired_total() const { return fired_total_.load(std::memory_order_relaxed); }
  // True while the watchdog waits with no deadline to keep (for tests).
  bool idle() const {
    std::lock_guard<std::mutex> lock(mu_);
    return loop_idle_;
  }

 private:
  struct Entry {
    int fd;  // our duplicate, closed with the Watch
    std::chrono::steady_clock::time_point deadline;
    bool fired;
  };
  void Loop();
  std::chrono::steady_clock::duration limit_chrono() const {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(absl::ToChronoNanoseconds(limit_));
  }

  const absl::Duration limit_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, Entry> entries_;
  uint64_t next_id_ = 1;
  bool stopping_ = false;
  bool loop_idle_ = false;  // waiting with no deadline to keep
  std::atomic<int64_t> fired_total_{0};
  std::thread thread_;
};

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
      // once more on a fresh one before giving up.
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
