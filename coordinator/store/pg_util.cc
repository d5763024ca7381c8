#include "absl/strings/string_view.h"
#include "coordinator/store/pg_util.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace drover::store {

absl::Status PgErrorToStatus(const std::exception& e, absl::string_view what) {
  std::string detail = e.what();
  while (!detail.empty() && (detail.back() == '\n' || detail.back() == ' ')) detail.pop_back();
  std::string msg = absl::StrCat(what, ": ", detail);
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr ||
      dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return absl::UnavailableError(absl::StrCat(what, ": database unavailable: ", detail));
  }
  if (dynamic_cast<const pqxx::serialization_failure*>(&e) != nullptr ||
      dynamic_cast<const pqxx::deadlock_detected*>(&e) != nullptr) {
    return absl::AbortedError(msg);
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e); sql != nullptr) {
    const std::string state = sql->sqlstate();
    if (state == "23505") return absl::AlreadyExistsError(msg);
    if (state == "40001" || state == "40P01") return absl::AbortedError(msg);
    // Connection exceptions, admin shutdown, cannot connect now, read-only standby.
    // Connection exceptions, admin shutdown, cannot connect now, read-only
    // standby, out of connections or disk: the database cannot serve now.
    if (state.rfind("08", 0) == 0 || state.rfind("53", 0) == 0 || state == "57P01" || state == "57P02" ||
        state == "57P03" || state == "25006") {
      return absl::UnavailableError(absl::StrCat(what, ": database unavailable: ", detail));
    }
    // Statement or lock timeout: busy, worth retrying later.
    if (state == "57014" || state == "55P03") {
      return absl::UnavailableError(absl::StrCat(what, ": database unavailable: ", detail));
    }
    return absl::InternalError(msg);
  }
  return absl::InternalError(msg);
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

PgPool::PgPool(std::string url, int size, OnConnect on_connect)
    : url_(WithNetworkTimeouts(url)), size_(size), on_connect_(std::move(on_connect)) {}

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
      return absl::UnavailableError(
          absl::StrCat("all ", size_, " database connections stay busy: retry later"));
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
    if (on_connect_) on_connect_(*conn);
    return Lease(this, std::move(conn));
  } catch (const std::exception& e) {
    Release(nullptr);
    return PgErrorToStatus(e, "connecting to PostgreSQL");
  }
}

}  // namespace drover::store
