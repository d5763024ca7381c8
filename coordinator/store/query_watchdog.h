// A watchdog that closes the socket of a PostgreSQL connection whose server
// has gone silent mid-statement.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>

#include "absl/time/time.h"

namespace drover::store {

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

}  // namespace drover::store
