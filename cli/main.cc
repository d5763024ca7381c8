// droverctl: the operator CLI. Parses the command line, runs one command
// against the coordinator and exits with a code saying how it went (see
// `droverctl help`).
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "cli/client.h"
#include "cli/command.h"
#include "cli/command_line.h"
#include "cli/help.h"
#include "proto/wire/proto_utf8.h"

namespace drover::cli {
namespace {

std::vector<CommandSpec> AllCommands() {
  std::vector<CommandSpec> all;
  for (auto group : {ChannelCommands, TargetCommands, WindowCommands, StatusCommands, AgentCommands, KeyCommands}) {
    for (CommandSpec& c : group()) all.push_back(std::move(c));
  }
  return all;
}

int Main(int argc, char** argv) {
  wire::RouteProtobufLogs();
  const std::vector<CommandSpec> commands = AllCommands();
  const std::vector<std::string> args(argv + 1, argv + argc);
  const char* env = std::getenv("DROVER_COORDINATOR");
  absl::StatusOr<ParsedCommandLine> parsed = ParseCommandLine(args, commands, env == nullptr ? "" : env);
  if (!parsed.ok()) {
    std::cerr << "droverctl: " << parsed.status().message() << "\n";
    return kExitUsage;
  }
  if (parsed->version) {
    std::cout << "droverctl " << DROVER_VERSION << " (" << DROVER_REVISION << ")\n";
    return kExitOk;
  }
  if (parsed->help) {
    absl::StatusOr<std::string> text = HelpText(commands, parsed->help_topic);
    if (!text.ok()) {
      std::cerr << "droverctl: " << text.status().message() << "\n";
      return kExitUsage;
    }
    std::cout << *text;
    return kExitOk;
  }
  OperatorClient client(parsed->options.coordinator, parsed->options.timeout);
  CommandContext ctx{parsed->options, &client, &std::cout, nullptr};
  if (isatty(STDIN_FILENO)) {
    ctx.confirm = [](const std::string& question) {
      std::cerr << question << " [y/N] " << std::flush;
      std::string answer;
      if (!std::getline(std::cin, answer)) return false;
      return answer == "y" || answer == "Y" || answer == "yes";
    };
  }
  const Result result = parsed->command->run(parsed->invocation, ctx);
  std::cout.flush();
  if (!result.ok()) {
    std::cerr << "droverctl: " << result.error << "\n";
    if (result.exit_code == kExitUsage) std::cerr << "  " << UsageHint(parsed->command->words) << "\n";
  }
  return result.exit_code;
}

}  // namespace
}  // namespace drover::cli

int main(int argc, char** argv) { return drover::cli::Main(argc, argv); }
