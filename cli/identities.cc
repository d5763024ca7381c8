// droverctl tokens create, agents revoke: host identities.
#include <iostream>

#include "absl/strings/str_cat.h"
#include "cli/command.h"
#include "cli/output.h"
#include "cli/parse.h"
#include "proto/wire/time.h"

namespace drover::cli {
namespace {

Result CreateToken(const Invocation& inv, CommandContext& ctx) {
  const std::string channel = inv.Get("channel");
  v1::CreateJoinTokenRequest req;
  req.set_channel(ChannelName(channel));
  if (inv.Has("ttl")) {
    absl::StatusOr<absl::Duration> ttl =
        ParseDurationValue("ttl", inv.Get("ttl"), absl::Minutes(1), absl::Hours(24 * 30));
    if (!ttl.ok()) return Result::Usage(std::string(ttl.status().message()));
    req.mutable_ttl()->set_seconds(absl::ToInt64Seconds(*ttl));
  }
  v1::CreateJoinTokenResponse resp;
  grpc::Status s = ctx.client->CreateJoinToken(req, &resp);
  if (!s.ok()) return RpcFailure(s, absl::StrCat("create a join token for channel \"", channel, "\""), ctx.client->address());
  if (ctx.options.output == OutputFormat::kJson) {
    *ctx.out << ToJson(resp) << "\n";
  } else {
    // The token alone on stdout, so `droverctl tokens create ... > FILE` works.
    *ctx.out << resp.token() << "\n";
    std::cerr << "join token for channel \"" << channel << "\", single use, expires "
              << FormatTime(resp.expire_time())
              << "; it is shown only now: put it in the updater's join_token_file (mode 600)\n";
  }
  return Result::Ok();
}

Result Revoke(const Invocation& inv, CommandContext& ctx) {
  const std::string& host = inv.args[0];
  v1::RevokeAgentRequest req;
  req.set_host_id(host);
  v1::RevokeAgentResponse resp;
  grpc::Status s = ctx.client->RevokeAgent(req, &resp);
  if (!s.ok()) return RpcFailure(s, absl::StrCat("revoke agent \"", host, "\""), ctx.client->address());
  if (ctx.options.output == OutputFormat::kJson) {
    *ctx.out << ToJson(resp) << "\n";
  } else {
    *ctx.out << "revoked " << resp.revoked_certificates() << " certificate(s) of host \"" << host
             << "\"; it can enrol again only with a new join token\n";
  }
  return Result::Ok();
}

}  // namespace

std::vector<CommandSpec> IdentityCommands() {
  std::vector<CommandSpec> out;
  out.push_back({.words = {"tokens", "create"},
                 .summary = "a single-use join token with which one updater enrols a host into a channel",
                 .description =
                     "Prints the token on stdout, once (the coordinator keeps only its SHA-256). Give it to the\n"
                     "host in a file (the updater's join_token_file), never on a command line.",
                 .json = "a drover.v1.CreateJoinTokenResponse: {\"token\", \"expire_time\"}",
                 .flags = {{"channel", "ID", "the channel the host will belong to", false, true},
                           {"ttl", "DURATION", "how long the token may be used, 1m..720h (default 1h)"}},
                 .run = CreateToken});
  out.push_back({.words = {"agents", "revoke"},
                 .args_synopsis = "HOST_ID",
                 .min_args = 1,
                 .max_args = 1,
                 .summary = "revoke a host's certificates: its reports and renewals are refused from now on",
                 .json = "a drover.v1.RevokeAgentResponse: {\"revoked_certificates\"}",
                 .run = Revoke});
  return out;
}

}  // namespace drover::cli
