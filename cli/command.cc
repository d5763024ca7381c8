#include "cli/command.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proto/wire/names.h"

namespace drover::cli {
namespace {

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

}  // namespace

Result RpcFailure(const grpc::Status& status, const std::string& what, const std::string& address,
                  const std::string& hint) {
  const std::string server = status.error_message().empty() ? "(no message)" : status.error_message();
  auto with_hint = [&](const std::string& text, const std::string& fallback) {
    const std::string& h = hint.empty() ? fallback : hint;
    return h.empty() ? text : absl::StrCat(text, "\n  ", h);
  };
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      return Result::Ok();
    case grpc::StatusCode::NOT_FOUND:
      return {kExitNotFound, with_hint(absl::StrCat("cannot ", what, ": not found: ", server), "")};
    case grpc::StatusCode::FAILED_PRECONDITION:
      return {kExitRefused,
              with_hint(absl::StrCat("cannot ", what, ": refused: ", server),
                        "change the request so it respects the channel's rules (see 'droverctl channels show ID')")};
    case grpc::StatusCode::INVALID_ARGUMENT:
      return {kExitInvalid, with_hint(absl::StrCat("cannot ", what, ": the coordinator rejected the request: ", server),
                                      "fix the value named above and try again")};
    case grpc::StatusCode::UNAUTHENTICATED:
      return {kExitDenied, with_hint(absl::StrCat("cannot ", what, ": not authenticated: ", server),
                                     "pass an operator token with --token-file=FILE or DROVER_TOKEN_FILE")};
    case grpc::StatusCode::PERMISSION_DENIED:
      return {kExitDenied, with_hint(absl::StrCat("cannot ", what, ": permission denied: ", server),
                                     "ask an admin for a token with the role named above")};
    case grpc::StatusCode::ALREADY_EXISTS:
      return {kExitAlreadyExists, with_hint(absl::StrCat("cannot ", what, ": already exists: ", server), "")};
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:  // droverctl never cancels: the coordinator shut down mid-call
      // No hint override: whatever the command, the advice is about the connection.
      return {kExitUnavailable,
              absl::StrCat("cannot ", what, ": the coordinator at ", address, " is unavailable (",
                           CodeName(status.error_code()), ": ", server,
                           ")\n  check that drover-coordinator runs there and its database is up, or point "
                           "droverctl elsewhere with --coordinator=ADDR or DROVER_COORDINATOR")};
    default:
      return {kExitError, with_hint(absl::StrCat("cannot ", what, ": ", CodeName(status.error_code()), ": ", server),
                                    "")};
  }
}

std::string Invocation::Get(const std::string& flag, const std::string& fallback) const {
  auto it = flags_.find(flag);
  if (it == flags_.end() || it->second.empty()) return fallback;
  return it->second.back();
}

const std::vector<std::string>& Invocation::GetAll(const std::string& flag) const {
  static const std::vector<std::string>* const kNone = new std::vector<std::string>();
  auto it = flags_.find(flag);
  return it == flags_.end() ? *kNone : it->second;
}

std::string CommandSpec::Path() const { return absl::StrJoin(words, " "); }

std::string CommandSpec::Synopsis() const {
  std::string s = Path();
  if (!args_synopsis.empty()) absl::StrAppend(&s, " ", args_synopsis);
  for (const FlagSpec& f : flags) {
    std::string flag = absl::StrCat("--", f.name);
    if (!f.value_name.empty()) absl::StrAppend(&flag, "=", f.value_name);
    if (f.repeated) absl::StrAppend(&flag, "...");
    absl::StrAppend(&s, f.required ? absl::StrCat(" ", flag) : absl::StrCat(" [", flag, "]"));
  }
  return s;
}

const FlagSpec* CommandSpec::FindFlag(const std::string& name) const {
  for (const FlagSpec& f : flags) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::string ChannelName(const std::string& id) {
  if (wire::ChannelIdOfName(id)) return id;
  return wire::ChannelName(id);
}

std::string ChannelId(const std::string& name) { return std::string(wire::ChannelIdOfName(name).value_or(name)); }

}  // namespace drover::cli
