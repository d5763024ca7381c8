// LISTENs to the change announcements (pg_notify.h) on a connection of its
// own and hands each changed channel to `on_change`; after every (re)connect
// it calls on_change("") -- announcements sent while it was away are lost,
// so everything may have changed. Reconnects with backoff.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace drover::store {

class PgChangeListener {
 public:
  PgChangeListener(std::string url, std::function<void(const std::string&)> on_change);
  ~PgChangeListener();

  void Start();
  void Stop();  // idempotent
  // Connected and listening now (for tests and metrics).
  bool listening() const;

 private:
  void Loop();

  const std::string url_;
  const std::function<void(const std::string&)> on_change_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  bool listening_ = false;
  std::thread thread_;
};

}  // namespace drover::store
