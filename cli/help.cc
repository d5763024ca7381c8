#include "cli/help.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/command_line.h"
#include "cli/output.h"

namespace drover::cli {
namespace {

constexpr char kGlobalFlags[] =
    "Global flags (anywhere on the line):\n"
    "  --coordinator=ADDR   the coordinator's gRPC address (default $DROVER_COORDINATOR, else 127.0.0.1:7600)\n"
    "  --output=FORMAT      table (default) or json; short: -o json\n"
    "  --timeout=DURATION   deadline of each call to the coordinator (default 10s)\n"
    "  --token-file=FILE    the operator token (default $DROVER_TOKEN_FILE, else the token in $DROVER_TOKEN);\n"
    "                       never on the command line. Made by 'droverctl operators create' or, for the\n"
    "                       first admin, 'drover-coordinator operators create'\n"
    "  --ca_file=FILE       TLS: the CA the coordinator's certificate must chain to (default $DROVER_CA_FILE)\n"
    "  --insecure           plaintext, for a coordinator started with --insecure\n"
    "  --help, -h           help on the command\n"
    "  --version            droverctl's version\n";

constexpr char kJson[] =
    "JSON (--output=json):\n"
    "  One JSON document on stdout: the call's response message in protobuf's JSON mapping, with the\n"
    "  .proto field names (snake_case). Every scalar and list field is present, also when zero or empty;\n"
    "  int64 numbers are strings (\"total_agents\": \"12\"), enums are names (\"HEALTH_HEALTHY\"),\n"
    "  timestamps RFC 3339 UTC (left out when unset), durations like \"60s\". Fields may be added in\n"
    "  later versions, never renamed. 'droverctl help COMMAND' shows each command's document.\n";

constexpr char kExitCodes[] =
    "Exit codes:\n"
    "  0  success\n"
    "  1  other error\n"
    "  2  usage: bad command, flag or argument (checked before anything is sent)\n"
    "  3  not found: no such channel or agent\n"
    "  4  refused by policy (FAILED_PRECONDITION): the version rules, a roll-back without\n"
    "     --allow-downgrade, deleting a channel that has agents\n"
    "  5  invalid argument: the coordinator rejected a value (e.g. a version that is not semver)\n"
    "  6  unavailable: the coordinator is unreachable, timed out, or its database is down\n"
    "  7  already exists\n"
    "  8  not allowed: no, unknown, expired or revoked token (UNAUTHENTICATED), or a role too low\n"
    "     (PERMISSION_DENIED, naming the role needed)\n"
    "Errors go to stderr and say what was wrong and what to do.\n";

std::string FlagName(const FlagSpec& f) {
  return f.value_name.empty() ? absl::StrCat("--", f.name) : absl::StrCat("--", f.name, "=", f.value_name);
}

std::string FlagLine(const FlagSpec& f, size_t width) {
  std::string help = f.help;
  if (f.repeated) absl::StrAppend(&help, " (repeatable)");
  if (f.required) absl::StrAppend(&help, " (required)");
  return absl::StrCat("  ", PadRight(FlagName(f), width), "  ", help, "\n");
}

std::string CommandHelp(const CommandSpec& c) {
  std::string out = absl::StrCat("Usage: droverctl ", c.Synopsis(), "\n\n", c.summary, "\n");
  if (!c.description.empty()) absl::StrAppend(&out, "\n", c.description, "\n");
  if (!c.flags.empty()) {
    absl::StrAppend(&out, "\nFlags:\n");
    size_t width = 0;
    for (const FlagSpec& f : c.flags) width = std::max(width, FlagName(f).size());
    for (const FlagSpec& f : c.flags) absl::StrAppend(&out, FlagLine(f, width));
  }
  absl::StrAppend(&out, "\n", kGlobalFlags);
  absl::StrAppend(&out, "\nJSON (--output=json): ", c.json, "\n");
  absl::StrAppend(&out, "Exit codes: see 'droverctl help'.\n");
  return out;
}

std::string CommandList(const std::vector<const CommandSpec*>& commands, bool with_help = false) {
  std::vector<std::pair<std::string, std::string>> rows;
  for (const CommandSpec* c : commands) {
    std::string usage = c->Path();
    if (!c->args_synopsis.empty()) absl::StrAppend(&usage, " ", c->args_synopsis);
    rows.emplace_back(usage, c->summary);
  }
  if (with_help) rows.emplace_back("help [COMMAND]", "this help, or a command's (also: droverctl COMMAND --help)");
  size_t width = 0;
  for (const auto& [usage, summary] : rows) width = std::max(width, DisplayWidth(usage));
  std::string out;
  for (const auto& [usage, summary] : rows) absl::StrAppend(&out, "  ", PadRight(usage, width), "  ", summary, "\n");
  return out;
}

}  // namespace

absl::StatusOr<std::string> HelpText(const std::vector<CommandSpec>& commands, const std::vector<std::string>& topic) {
  if (topic.empty()) {
    std::vector<const CommandSpec*> all;
    for (const CommandSpec& c : commands) all.push_back(&c);
    return absl::StrCat(
        "droverctl: steer Drover rollouts and see the fleet.\n\n"
        "Usage: droverctl [--coordinator=ADDR] [-o table|json] COMMAND [ARGS] [FLAGS]\n\n",
        "Commands:\n", CommandList(all, /*with_help=*/true), "\n",
        "ID is a channel id such as stable/cloud; droverctl adds the \"channels/\" prefix of its resource name.\n\n",
        kGlobalFlags, "\n", kJson, "\n", kExitCodes);
  }
  if (topic.size() == 1 && topic[0] == "help") return HelpText(commands, {});
  if (const CommandSpec* c = FindCommand(commands, topic); c != nullptr) return CommandHelp(*c);
  std::vector<const CommandSpec*> group;
  for (const CommandSpec& c : commands) {
    if (c.words.size() > topic.size() && std::equal(topic.begin(), topic.end(), c.words.begin())) group.push_back(&c);
  }
  if (group.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no help for \"", absl::StrJoin(topic, " "), "\": there is no such command; see 'droverctl help'"));
  }
  return absl::StrCat("Usage: droverctl ", absl::StrJoin(topic, " "), " SUBCOMMAND ...\n\nCommands:\n",
                      CommandList(group), "\nRun 'droverctl help ", absl::StrJoin(topic, " "),
                      " SUBCOMMAND' for one of them.\n");
}

std::string UsageHint(const std::vector<std::string>& words) {
  return words.empty() ? "run 'droverctl help' for usage"
                       : absl::StrCat("run 'droverctl help ", absl::StrJoin(words, " "), "' for usage");
}

}  // namespace drover::cli
