#include "coordinator/store/database_url.h"

#include <arpa/inet.h>
#include <libpq-fe.h>

#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace drover::store {
namespace {

bool IsLocalHost(const std::string& host) {
  if (host.empty() || host[0] == '/' || host[0] == '@') return true;  // Unix socket (or abstract one)
  const std::string h = absl::AsciiStrToLower(host);
  if (h == "localhost" || absl::EndsWith(h, ".localhost")) return true;
  in_addr v4;
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

}  // namespace

absl::StatusOr<DatabaseUrlInfo> InspectDatabaseUrl(const std::string& url, const char* pghost_env,
                                                   const char* pgsslmode_env) {
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, void (*)(PQconninfoOption*)> options(PQconninfoParse(url.c_str(), &error),
                                                                         PQconninfoFree);
  if (options == nullptr) {
    std::string why = error != nullptr ? std::string(absl::StripAsciiWhitespace(error)) : "out of memory";
    PQfreemem(error);
    // libpq's message quotes only the offending piece, never the password.
    return absl::InvalidArgumentError(absl::StrCat("the database URL is not valid: ", why));
  }
  DatabaseUrlInfo info;
  std::string host, hostaddr;
  for (const PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const absl::string_view key = o->keyword;
    if (key == "password" && *o->val != '\0') info.has_password = true;
    if (key == "host") host = o->val;
    if (key == "hostaddr") hostaddr = o->val;
    if (key == "sslmode") info.sslmode = o->val;
  }
  if (host.empty() && hostaddr.empty() && pghost_env != nullptr) host = pghost_env;
  if (info.sslmode.empty() && pgsslmode_env != nullptr) info.sslmode = pgsslmode_env;
  // hostaddr, when given, is what libpq connects to.
  const std::string& where = hostaddr.empty() ? host : hostaddr;
  for (absl::string_view h : absl::StrSplit(where, ',')) {
    std::string one(absl::StripAsciiWhitespace(h));
    info.local = info.local && IsLocalHost(one);
    if (!one.empty()) info.hosts.push_back(std::move(one));
  }
  return info;
}

absl::Status CheckDatabaseTransport(const DatabaseUrlInfo& info) {
  if (info.local || info.sslmode == "verify-full") return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "the database at ", absl::StrJoin(info.hosts, ","), " is not local, and sslmode is ",
      info.sslmode.empty() ? "not set (libpq's default, prefer, accepts an unverified or no TLS)" : info.sslmode,
      ": add sslmode=verify-full (and sslrootcert=) to the database URL so that the connection is encrypted and "
      "the server's certificate and name are verified, or pass --allow_unverified_database to accept the risk"));
}

}  // namespace drover::store
