// droverctl: the operator CLI. Parses the command line, runs one command
// against the coordinator and exits with a code saying how it went (see
// `droverctl help`).
#include <unistd.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/client.h"
#include "cli/command.h"
#include "cli/command_line.h"
#include "cli/help.h"
#include "proto/wire/proto_utf8.h"

namespace drover::cli {
namespace {

std::vector<CommandSpec> AllCommands() {
  std::vector<CommandSpec> all;
  for (auto group : {ChannelCommands, TargetCommands, WindowCommands, StatusCommands, AgentCommands,
                     OperatorCommands, IdentityCommands,
                     KeyCommands, RolloutCommands}) {
    for (CommandSpec& c : group()) all.push_back(std::move(c));
  }
  return all;
}

// The operator token: from --token-file, else $DROVER_TOKEN_FILE, else
// $DROVER_TOKEN; "" when none is given. Never from argv. A file others may
// read is refused, as ssh refuses such a key.
absl::StatusOr<std::string> ReadOperatorToken(std::string path) {
  if (path.empty()) {
    if (const char* env = std::getenv("DROVER_TOKEN_FILE"); env != nullptr) path = env;
  }
  if (path.empty()) {
    const char* env = std::getenv("DROVER_TOKEN");
    return std::string(env == nullptr ? "" : absl::StripAsciiWhitespace(env));
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read the token file \"", path, "\": ", std::strerror(errno)));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the token file \"%s\" may be read by others (mode %04o); chmod 600 it", path, st.st_mode & 07777));
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read the token file \"", path, "\""));
  std::string token(absl::StripAsciiWhitespace(text.str()));
  if (token.empty()) return absl::InvalidArgumentError(absl::StrCat("the token file \"", path, "\" is empty"));
  return token;
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
  absl::StatusOr<std::string> token = ReadOperatorToken(parsed->options.token_file);
  if (!token.ok()) {
    std::cerr << "droverctl: " << token.status().message() << "\n";
    return kExitUsage;
  }
  if (parsed->options.ca_file.empty()) {
    if (const char* ca = std::getenv("DROVER_CA_FILE"); ca != nullptr) parsed->options.ca_file = ca;
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials = ChannelCredentialsFor(parsed->options);
  if (!credentials.ok()) {
    std::cerr << "droverctl: " << credentials.status().message() << "\n";
    return kExitUsage;
  }
  OperatorClient client(parsed->options.coordinator, parsed->options.timeout, *credentials, *token);
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
