// droverctl's command line: global flags anywhere, then the command words,
// its arguments and its flags in any order. Parsed by hand so each command
// knows its own flags, `--help` works everywhere and an unknown flag is an
// error naming it.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/command.h"

namespace drover::cli {

inline constexpr char kDefaultCoordinator[] = "127.0.0.1:7600";

struct ParsedCommandLine {
  GlobalOptions options;
  // Set unless help was asked for.
  const CommandSpec* command = nullptr;
  Invocation invocation;
  // `droverctl help [WORDS]` or `... --help`: show help on these words
  // (empty: the overview).
  bool help = false;
  std::vector<std::string> help_topic;
  // `--version`: print droverctl's version and exit.
  bool version = false;
};

// `args` excludes the program name. `env_coordinator` is $DROVER_COORDINATOR
// (empty when unset). Errors are InvalidArgument: usage errors, exit code 2.
absl::StatusOr<ParsedCommandLine> ParseCommandLine(const std::vector<std::string>& args,
                                                   const std::vector<CommandSpec>& commands,
                                                   const std::string& env_coordinator);

// The candidate closest to a mistyped `word` (one or two edits away, a
// transposition counting as one, or the only candidate it is a prefix of),
// or "" when none is close enough to be the likely intent.
std::string ClosestMatch(const std::string& word, const std::vector<std::string>& candidates);

// The command with exactly these words, or null.
const CommandSpec* FindCommand(const std::vector<CommandSpec>& commands, const std::vector<std::string>& words);

}  // namespace drover::cli
