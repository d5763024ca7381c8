#include "coordinator/store/pg_change_listener.h"

#include <pqxx/pqxx>

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "coordinator/store/pg_errors.h"
#include "coordinator/store/pg_notify.h"
#include "coordinator/store/pg_pool.h"

namespace drover::store {
namespace {

class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& c, const std::function<void(const std::string&)>* on_change)
      : pqxx::notification_receiver(c, kChangesChannel), on_change_(on_change) {}
  void operator()(const std::string& payload, int) override { (*on_change_)(payload); }

 private:
  const std::function<void(const std::string&)>* on_change_;
};

}  // namespace

PgChangeListener::PgChangeListener(std::string url, std::function<void(const std::string&)> on_change)
    : url_(std::move(url)), on_change_(std::move(on_change)) {}

PgChangeListener::~PgChangeListener() { Stop(); }

void PgChangeListener::Start() { thread_ = std::thread([this] { Loop(); }); }

void PgChangeListener::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool PgChangeListener::listening() const {
  std::lock_guard<std::mutex> lock(mu_);
  return listening_;
}

void PgChangeListener::Loop() {
  auto stopped = [this] {
    std::lock_guard<std::mutex> lock(mu_);
    return stopped_;
  };
  std::chrono::milliseconds backoff(200);
  while (!stopped()) {
    try {
      pqxx::connection conn(WithNetworkTimeouts(url_));
      Receiver receiver(conn, &on_change_);
      // The LISTEN is issued by the receiver; a first query makes sure it
      // reached the server before we say everything may have changed.
      pqxx::nontransaction(conn).exec("SELECT 1");
      {
        std::lock_guard<std::mutex> lock(mu_);
        listening_ = true;
      }
      on_change_("");
      backoff = std::chrono::milliseconds(200);
      int idle_rounds = 0;
      while (!stopped()) {
        // Short waits, so Stop is prompt; a query now and then finds a
        // connection that died without a word (the keepalives bound it).
        if (conn.await_notification(0, 200'000) == 0 && ++idle_rounds >= 50) {
          idle_rounds = 0;
          pqxx::nontransaction(conn).exec("SELECT 1");
        }
      }
    } catch (const std::exception& e) {
      LogWarning(absl::StrCat("listening for channel changes (pushes fall back to a 1 s re-check): ",
                              PgErrorToStatus(e, "change listener").message()));
    }
    std::unique_lock<std::mutex> lock(mu_);
    listening_ = false;
    cv_.wait_for(lock, backoff, [this] { return stopped_; });
    backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
  }
}

}  // namespace drover::store
