// store::LeaderLock on a PostgreSQL session advisory lock.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "coordinator/store/leader_lock.h"

namespace drover::store {

class PgLeaderLock final : public LeaderLock {
 public:
  // The key of the rollout engine's lock ("DROVER" + 1). Other roles that
  // need a leader take other keys.
  static constexpr int64_t kRolloutEngineKey = 0x44524f564552'0001;

  PgLeaderLock(std::string url, int64_t key);
  ~PgLeaderLock() override;

  absl::StatusOr<bool> Hold() override;
  void Release() override;

 private:
  const std::string url_;
  const int64_t key_;
  std::mutex mu_;
  struct Session;  // the lock's own connection (pqxx), not from the pools
  std::unique_ptr<Session> session_;
  bool held_ = false;
};

}  // namespace drover::store
