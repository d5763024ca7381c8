// What the coordinator checks in its PostgreSQL URL before connecting: that
// no password sits on a command line, and that a database reached over the
// network is reached with TLS that verifies its certificate and host name
// (sslmode=verify-full). Parsed by libpq itself (PQconninfoParse), URL or
// key=value form alike.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace drover::store {

struct DatabaseUrlInfo {
  bool has_password = false;
  // Every host is a Unix socket directory or a loopback name or address
  // (none: libpq's default socket).
  bool local = true;
  std::vector<std::string> hosts;
  std::string sslmode;  // as written, or from $PGSSLMODE; empty: libpq's default (prefer)
};

// `pghost_env`, `pgsslmode_env`: $PGHOST and $PGSSLMODE (null when unset),
// which libpq uses when the URL names no host or sslmode. The error never
// repeats the URL: it may hold a password.
absl::StatusOr<DatabaseUrlInfo> InspectDatabaseUrl(const std::string& url, const char* pghost_env,
                                                   const char* pgsslmode_env);

// OK when the database is local or sslmode is verify-full; otherwise an
// error naming the host and the fix.
absl::Status CheckDatabaseTransport(const DatabaseUrlInfo& info);

}  // namespace drover::store
