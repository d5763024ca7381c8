// droverctl operators create/list/revoke and droverctl audit (issue 14).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "cli/command.h"
#include "cli/output.h"
#include "cli/parse.h"
#include "common/api_limits.h"
#include "proto/wire/time.h"

namespace drover::cli {
namespace {

std::string RoleText(v1::OperatorRole role) {
  switch (role) {
    case v1::OPERATOR_ROLE_VIEWER: return "viewer";
    case v1::OPERATOR_ROLE_OPERATOR: return "operator";
    case v1::OPERATOR_ROLE_ADMIN: return "admin";
    default: return "unknown";
  }
}

Result Create(const Invocation& inv, CommandContext& ctx) {
  v1::CreateOperatorRequest req;
  req.set_name(inv.args[0]);
  const std::string role = inv.Get("role");
  if (role == "viewer") {
    req.set_role(v1::OPERATOR_ROLE_VIEWER);
  } else if (role == "operator") {
    req.set_role(v1::OPERATOR_ROLE_OPERATOR);
  } else if (role == "admin") {
    req.set_role(v1::OPERATOR_ROLE_ADMIN);
  } else {
    return Result::Usage(absl::StrCat("--role=", role, " is not a role; use viewer, operator or admin"));
  }
  if (inv.Has("ttl")) {
    absl::StatusOr<absl::Duration> ttl =
        ParseDurationValue("ttl", inv.Get("ttl"), absl::Minutes(1), absl::Hours(24 * 366 * 10));
    if (!ttl.ok()) return Result::Usage(std::string(ttl.status().message()));
    req.set_ttl_seconds(absl::ToInt64Seconds(*ttl));
  }
  // The file is made first (0600, never overwritten), so a bad path costs no token.
  const std::string path = inv.Get("out");
  int fd = -1;
  if (!path.empty()) {
    fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      return Result::Usage(absl::StrCat("cannot create --out=", path, ": ", std::strerror(errno),
                                        errno == EEXIST ? " (it is never overwritten)" : ""));
    }
  }
  v1::CreateOperatorResponse resp;
  grpc::Status s = ctx.client->CreateOperator(req, &resp);
  if (!s.ok()) {
    if (fd >= 0) {
      close(fd);
      unlink(path.c_str());
    }
    return RpcFailure(s, absl::StrCat("create operator \"", inv.args[0], "\""), ctx.client->address());
  }
  if (fd >= 0) {
    const std::string line = resp.token() + "\n";
    const bool written = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    close(fd);
    if (!written) {
      return Result::Error(absl::StrCat("cannot write --out=", path, "; the token was issued: revoke it with "
                                        "'droverctl operators revoke ", inv.args[0], "'"));
    }
    resp.clear_token();  // in the file, not on the screen
  }
  if (ctx.options.output == OutputFormat::kJson) {
    *ctx.out << ToJson(resp) << "\n";
  } else if (fd >= 0) {
    *ctx.out << "Created " << RoleText(resp.operator_().role()) << " " << resp.operator_().name() << "; token in "
             << path << " (mode 0600).\n";
  } else {
    *ctx.out << "Created " << RoleText(resp.operator_().role()) << " " << resp.operator_().name()
             << ". Its token, shown only now (keep it in a file only its owner can read):\n"
             << resp.token() << "\n";
  }
  return Result::Ok();
}

Result List(const Invocation& inv, CommandContext& ctx) {
  v1::ListOperatorsRequest req;
  req.set_include_revoked(inv.GetBool("all"));
  v1::ListOperatorsResponse resp;
  grpc::Status s = ctx.client->ListOperators(req, &resp);
  if (!s.ok()) return RpcFailure(s, "list operators", ctx.client->address());
  if (ctx.options.output == OutputFormat::kJson) {
    *ctx.out << ToJson(resp) << "\n";
    return Result::Ok();
  }
  Table table({"NAME", "ROLE", "CREATED", "BY", "EXPIRES", "REVOKED"});
  for (const v1::Operator& op : resp.operators()) {
    table.AddRow({op.name(), RoleText(op.role()), FormatTime(op.create_time()), op.created_by(),
                  op.has_expire_time() ? FormatTime(op.expire_time()) : "never",
                  op.has_revoke_time() ? FormatTime(op.revoke_time()) : "-"});
  }
  *ctx.out << table.Render();
  return Result::Ok();
}

Result Revoke(const Invocation& inv, CommandContext& ctx) {
  v1::RevokeOperatorRequest req;
  req.set_name(inv.args[0]);
  v1::Operator resp;
  grpc::Status s = ctx.client->RevokeOperator(req, &resp);
  if (!s.ok()) return RpcFailure(s, absl::StrCat("revoke operator \"", inv.args[0], "\""), ctx.client->address());
  if (ctx.options.output == OutputFormat::kJson) {
    *ctx.out << ToJson(resp) << "\n";
  } else {
    *ctx.out << "Revoked the token of " << resp.name() << "; it is refused from now on.\n";
  }
  return Result::Ok();
}

// "1h" (that long ago) or an RFC 3339 time.
absl::StatusOr<absl::Time> ParseWhen(const std::string& flag, const std::string& value) {
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, value, &t, &err)) return t;
  absl::StatusOr<absl::Duration> ago = ParseDurationValue(flag, value, absl::Seconds(1), absl::Hours(24 * 366 * 10));
  if (!ago.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, "=", value,
                                                   " is neither a duration ago (e.g. 1h, 30m) nor an RFC 3339 time"));
  }
  return absl::Now() - *ago;
}

Result Audit(const Invocation& inv, CommandContext& ctx) {
  v1::ListAuditEventsRequest req;
  req.set_actor(inv.Get("actor"));
  if (inv.Has("channel") && inv.Has("object")) return Result::Usage("--channel and --object exclude each other");
  req.set_object(inv.Has("channel") ? ChannelName(inv.Get("channel")) : inv.Get("object"));
  req.set_method(inv.Get("method"));
  if (inv.Has("result")) {
    const std::string r = inv.Get("result");
    if (r == "ok") {
      req.set_result(v1::AUDIT_RESULT_OK);
    } else if (r == "refused") {
      req.set_result(v1::AUDIT_RESULT_REFUSED);
    } else {
      return Result::Usage(absl::StrCat("--result=", r, " is not a result; use ok or refused"));
    }
  }
  for (const char* flag : {"since", "until"}) {
    if (!inv.Has(flag)) continue;
    absl::StatusOr<absl::Time> t = ParseWhen(flag, inv.Get(flag));
    if (!t.ok()) return Result::Usage(std::string(t.status().message()));
    wire::TimeToProto(*t, std::string(flag) == "since" ? req.mutable_since() : req.mutable_until());
  }
  int64_t limit = 100;
  if (inv.Has("limit")) {
    absl::StatusOr<int64_t> n = ParseCount("limit", inv.Get("limit"), 1, 1000000);
    if (!n.ok()) return Result::Usage(std::string(n.status().message()));
    limit = *n;
  }
  req.set_page_size(static_cast<int32_t>(std::min<int64_t>(limit, kMaxPageSize)));
  v1::ListAuditEventsResponse all;
  bool more = false;
  for (;;) {
    v1::ListAuditEventsResponse page;
    grpc::Status s = ctx.client->ListAuditEvents(req, &page);
    if (!s.ok()) return RpcFailure(s, "list the audit trail", ctx.client->address());
    for (v1::AuditEvent& e : *page.mutable_events()) *all.add_events() = std::move(e);
    if (page.next_page_token().empty()) break;
    if (all.events_size() >= limit) {
      more = true;
      break;
    }
    req.set_page_token(page.next_page_token());
    req.set_page_size(static_cast<int32_t>(std::min<int64_t>(limit - all.events_size(), kMaxPageSize)));
  }
  if (ctx.options.output == OutputFormat::kJson) {
    *ctx.out << ToJson(all) << "\n";
    return Result::Ok();
  }
  if (all.events().empty()) {
    *ctx.out << "No audit events match.\n";
    return Result::Ok();
  }
  Table table({"TIME", "ACTOR", "PEER", "METHOD", "OBJECT", "RESULT", "OLD", "NEW", "REASON"});
  auto or_dash = [](const std::string& s) { return s.empty() ? std::string("-") : s; };
  for (const v1::AuditEvent& e : all.events()) {
    const std::string method = e.method().substr(e.method().rfind('.') + 1);
    table.AddRow({FormatTime(e.time()), or_dash(e.actor()), e.peer(), method, or_dash(e.object()),
                  e.result() == v1::AUDIT_RESULT_OK ? "ok" : "refused", or_dash(e.old_value()),
                  or_dash(e.new_value()), or_dash(e.reason())});
  }
  *ctx.out << table.Render();
  if (more) *ctx.out << "(older events not shown; raise --limit to see them)\n";
  return Result::Ok();
}

}  // namespace

std::vector<CommandSpec> OperatorCommands() {
  std::vector<CommandSpec> out;
  out.push_back({.words = {"operators", "create"},
                 .args_synopsis = "NAME",
                 .min_args = 1,
                 .max_args = 1,
                 .summary = "issue an operator token (admin)",
                 .description = "Roles: viewer (reads), operator (targets, critical, windows, control plane, poll\n"
                                "interval), admin (channels, operator tokens, keys, hosts). The token is shown once:\n"
                                "with --out it goes to a new file of mode 0600 instead of the screen.",
                 .json = "a drover.v1.CreateOperatorResponse: {\"operator\": {...}, \"token\"} (token \"\" with --out)",
                 .flags = {{"role", "ROLE", "viewer, operator or admin", false, true},
                           {"ttl", "DURATION", "lifetime, e.g. 720h (default: never expires)"},
                           {"out", "FILE", "write the token to this new file (mode 0600)"}},
                 .run = Create});
  out.push_back({.words = {"operators", "list"},
                 .summary = "list operator tokens (admin): name, role, expiry, revocation",
                 .json = "a drover.v1.ListOperatorsResponse: {\"operators\": [...]}",
                 .flags = {{"all", "", "also revoked tokens"}},
                 .run = List});
  out.push_back({.words = {"operators", "revoke"},
                 .args_synopsis = "NAME",
                 .min_args = 1,
                 .max_args = 1,
                 .summary = "revoke an operator's token (admin); refused from then on",
                 .json = "the revoked drover.v1.Operator",
                 .run = Revoke});
  out.push_back({.words = {"audit"},
                 .summary = "who changed what: every mutation and every refused one, newest first",
                 .description = "--since and --until take a duration ago (1h, 30m) or an RFC 3339 time.",
                 .json = "a drover.v1.ListAuditEventsResponse: {\"events\": [{\"id\", \"time\", \"actor\", \"peer\", "
                         "\"method\", \"object\", \"old_value\", \"new_value\", \"result\", \"reason\"}...]}",
                 .flags = {{"actor", "NAME", "only this operator (\"anonymous\": calls without a token)"},
                           {"channel", "ID", "only this channel"},
                           {"object", "NAME", "only this object, e.g. operators/alice"},
                           {"method", "RPC", "only this RPC, e.g. SetTargetVersion"},
                           {"result", "ok|refused", "only these"},
                           {"since", "WHEN", "only events at or after"},
                           {"until", "WHEN", "only events before"},
                           {"limit", "N", "at most N events (default 100)"}},
                 .run = Audit});
  return out;
}

}  // namespace drover::cli
