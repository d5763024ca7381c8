#include "coordinator/store/query_watchdog.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace drover::store {

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
      // A copy: wait_until reads its deadline again after waking, and the
      // entry may be gone by then (its Watch ended while we waited).
      const std::chrono::steady_clock::time_point deadline = next->second.deadline;
      cv_.wait_until(lock, deadline);
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

}  // namespace drover::store
