#include "cli/command_line.h"

#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/help.h"
#include "cli/parse.h"

namespace drover::cli {
namespace {

absl::Status Usage(const std::string& message) { return absl::InvalidArgumentError(message); }

// Optimal string alignment distance: insertions, deletions, substitutions
// and transpositions of neighbours each cost one.
size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// " (did you mean \"x\"?)" or "".
std::string DidYouMean(const std::string& word, const std::vector<std::string>& candidates,
                       const std::string& shown_prefix = "") {
  const std::string best = ClosestMatch(word, candidates);
  return best.empty() ? "" : absl::StrCat(" (did you mean \"", shown_prefix, best, "\"?)");
}

bool IsGroupPrefix(const std::vector<CommandSpec>& commands, const std::vector<std::string>& words) {
  for (const CommandSpec& c : commands) {
    if (c.words.size() > words.size() && std::equal(words.begin(), words.end(), c.words.begin())) return true;
  }
  return false;
}

std::vector<std::string> Subcommands(const std::vector<CommandSpec>& commands, const std::vector<std::string>& words) {
  std::vector<std::string> out;
  for (const CommandSpec& c : commands) {
    if (c.words.size() > words.size() && std::equal(words.begin(), words.end(), c.words.begin())) {
      out.push_back(c.words[words.size()]);
    }
  }
  return out;
}

std::set<std::string> TopLevelWords(const std::vector<CommandSpec>& commands) {
  std::set<std::string> out = {"help"};
  for (const CommandSpec& c : commands) out.insert(c.words[0]);
  return out;
}

absl::Status SetGlobal(const std::string& name, const std::string& value, GlobalOptions* options) {
  if (name == "coordinator") {
    if (value.empty()) return Usage("--coordinator needs an address, e.g. --coordinator=127.0.0.1:7600");
    options->coordinator = value;
  } else if (name == "output") {
    if (value == "table") {
      options->output = OutputFormat::kTable;
    } else if (value == "json") {
      options->output = OutputFormat::kJson;
    } else {
      return Usage(absl::StrCat("--output=", value, " is not a format; use --output=table or --output=json"));
    }
  } else if (name == "ca_file") {
    if (value.empty()) return Usage("--ca_file needs a file, e.g. --ca_file=/etc/drover/ca.pem");
    options->ca_file = value;
  } else if (name == "timeout") {
    absl::StatusOr<absl::Duration> d = ParseDurationValue("timeout", value, absl::Milliseconds(100), absl::Hours(1));
    if (!d.ok()) return d.status();
    options->timeout = *d;
  } else if (name == "token-file") {
    if (value.empty()) return Usage("--token-file needs a file, e.g. --token-file=~/.config/drover/token");
    options->token_file = value;
  }
  return absl::OkStatus();
}

}  // namespace

std::string ClosestMatch(const std::string& word, const std::vector<std::string>& candidates) {
  if (word.empty()) return "";
  std::string best;
  size_t best_distance = 3;  // more than two edits is a different word
  bool tie = false;
  for (const std::string& c : candidates) {
    const size_t d = EditDistance(word, c);
    if (d >= word.size() && d >= c.size()) continue;  // nothing in common
    if (d < best_distance) {
      best = c;
      best_distance = d;
      tie = false;
    } else if (d == best_distance && c != best) {
      tie = true;
    }
  }
  if (!best.empty() && !tie) return best;
  // "chan" for "channels": a prefix of exactly one candidate.
  std::string prefixed;
  for (const std::string& c : candidates) {
    if (word.size() >= 2 && absl::StartsWith(c, word)) {
      if (!prefixed.empty() && prefixed != c) return "";
      prefixed = c;
    }
  }
  return prefixed;
}

const CommandSpec* FindCommand(const std::vector<CommandSpec>& commands, const std::vector<std::string>& words) {
  for (const CommandSpec& c : commands) {
    if (c.words == words) return &c;
  }
  return nullptr;
}

namespace {

// Parses into `out`; `words` collects the command words seen, for the hint.
absl::Status Parse(const std::vector<std::string>& args, const std::vector<CommandSpec>& commands,
                   ParsedCommandLine& out, std::vector<std::string>& words) {
  static const std::set<std::string> kGlobalFlags = {"coordinator", "output", "timeout", "token-file", "ca_file"};
  static const std::vector<std::string> kGlobalFlagNames = {"coordinator", "output", "timeout", "token-file",
                                                            "ca_file", "insecure", "help", "version"};
  bool help_command = false;       // `droverctl help ...`
  bool only_positionals = false;   // after "--"
  std::set<std::string> seen_flags;

  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!only_positionals && arg == "--") {
      only_positionals = true;
      continue;
    }
    if (!only_positionals && arg.size() > 1 && arg[0] == '-') {
      if (arg == "-h" || arg == "--help" || arg == "-help") {
        out.help = true;
        continue;
      }
      if (arg == "--version") {
        out.version = true;
        continue;
      }
      if (arg == "--insecure" || arg == "--insecure=true" || arg == "--insecure=false") {
        out.options.insecure = arg != "--insecure=false";
        continue;
      }
      // -o FORMAT, -o=FORMAT, -ojson, -otable: the short form of --output.
      if (arg == "-o" || absl::StartsWith(arg, "-o=") || arg == "-ojson" || arg == "-otable") {
        std::string value = arg.substr(absl::StartsWith(arg, "-o=") ? 3 : 2);
        if (arg == "-o") {
          if (i + 1 >= args.size()) return Usage("-o needs a format (-o json or -o table)");
          value = args[++i];
        }
        if (absl::Status s = SetGlobal("output", value, &out.options); !s.ok()) return s;
        continue;
      }
      if (!absl::StartsWith(arg, "--")) {
        return Usage(absl::StrCat("unknown flag ", arg, "; flags are written --name=value"));
      }
      const size_t eq = arg.find('=');
      const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      const bool inline_value = eq != std::string::npos;
      std::string value = inline_value ? arg.substr(eq + 1) : "";
      auto take_value = [&]() -> absl::Status {
        if (inline_value) return absl::OkStatus();
        if (i + 1 >= args.size()) return Usage(absl::StrCat("--", name, " needs a value (--", name, "=VALUE)"));
        value = args[++i];
        return absl::OkStatus();
      };
      if (kGlobalFlags.count(name) > 0) {
        if (absl::Status s = take_value(); !s.ok()) return s;
        if (absl::Status s = SetGlobal(name, value, &out.options); !s.ok()) return s;
        continue;
      }
      if (out.command == nullptr) {
        if (help_command || out.help) continue;  // `help` ignores command flags
        return Usage(absl::StrCat(
            "unknown flag ", arg.substr(0, eq), DidYouMean(name, kGlobalFlagNames, "--"),
            words.empty() ? "" : absl::StrCat(" for 'droverctl ", absl::StrJoin(words, " "), "'"),
            "; before the command only --coordinator, --output (-o), --timeout, --token-file, --ca_file, --insecure, "
            "--help and --version are accepted"));
      }
      const FlagSpec* flag = out.command->FindFlag(name);
      if (flag == nullptr) {
        if (out.help) continue;
        std::vector<std::string> known, names = kGlobalFlagNames;
        for (const FlagSpec& f : out.command->flags) {
          known.push_back("--" + f.name);
          names.push_back(f.name);
        }
        return Usage(absl::StrCat("unknown flag --", name, DidYouMean(name, names, "--"), " for 'droverctl ",
                                  out.command->Path(), "'",
                                  known.empty() ? "; it takes no flags"
                                                : absl::StrCat("; its flags are ", absl::StrJoin(known, ", "))));
      }
      if (flag->value_name.empty()) {
        if (inline_value && value != "true" && value != "false") {
          return Usage(absl::StrCat("--", name, " takes no value (got --", name, "=", value, ")"));
        }
        if (!inline_value) value = "true";
      } else {
        if (absl::Status s = take_value(); !s.ok()) return s;
      }
      if (!flag->repeated && !seen_flags.insert(name).second) {
        return Usage(absl::StrCat("--", name, " given more than once"));
      }
      out.invocation.Add(name, value);
      continue;
    }
    // A positional argument: a command word until the command is known.
    if (help_command) {
      out.help_topic.push_back(arg);
      continue;
    }
    if (out.command != nullptr) {
      out.invocation.args.push_back(arg);
      continue;
    }
    if (words.empty() && arg == "help") {
      help_command = true;
      continue;
    }
    words.push_back(arg);
    out.command = FindCommand(commands, words);
    if (out.command == nullptr && !IsGroupPrefix(commands, words)) {
      words.pop_back();  // not a command word: the hint names the group
      if (words.empty()) {
        const std::set<std::string> top = TopLevelWords(commands);
        const std::vector<std::string> candidates(top.begin(), top.end());
        return Usage(absl::StrCat("unknown command \"", arg, "\"", DidYouMean(arg, candidates),
                                  "; commands are ", absl::StrJoin(top, ", ")));
      }
      const std::vector<std::string> subcommands = Subcommands(commands, words);
      return Usage(absl::StrCat("unknown command \"", absl::StrJoin(words, " "), " ", arg, "\"",
                                DidYouMean(arg, subcommands, absl::StrCat(absl::StrJoin(words, " "), " ")),
                                "; 'droverctl ", absl::StrJoin(words, " "), "' takes ",
                                absl::StrJoin(subcommands, ", ")));
    }
  }

  if (out.version && !help_command && !out.help) {
    out.command = nullptr;
    return absl::OkStatus();
  }
  if (help_command || out.help) {
    out.help = true;
    if (!help_command) out.help_topic = words;
    out.command = nullptr;
    return absl::OkStatus();
  }
  if (out.command == nullptr) {
    if (words.empty()) return Usage("no command given");
    return Usage(absl::StrCat("'droverctl ", absl::StrJoin(words, " "), "' needs a subcommand: ",
                              absl::StrJoin(Subcommands(commands, words), ", ")));
  }
  const CommandSpec& c = *out.command;
  const int n = static_cast<int>(out.invocation.args.size());
  if (n < c.min_args) {
    return Usage(absl::StrCat("'droverctl ", c.Path(), "' needs ", c.args_synopsis, "; usage: droverctl ",
                              c.Synopsis()));
  }
  if (c.max_args >= 0 && n > c.max_args) {
    return Usage(absl::StrCat("unexpected argument \"", out.invocation.args[c.max_args], "\" for 'droverctl ",
                              c.Path(), "'; usage: droverctl ", c.Synopsis()));
  }
  for (int i = 0; i < n; ++i) {
    if (out.invocation.args[i].empty()) {
      return Usage(absl::StrCat("argument ", i + 1, " of 'droverctl ", c.Path(), "' is empty; usage: droverctl ",
                                c.Synopsis()));
    }
  }
  for (const FlagSpec& f : c.flags) {
    if (f.required && !out.invocation.Has(f.name)) {
      return Usage(absl::StrCat("'droverctl ", c.Path(), "' needs --", f.name, "=", f.value_name, " (", f.help, ")"));
    }
    if (f.required && out.invocation.Get(f.name).empty()) {
      return Usage(absl::StrCat("--", f.name, " is empty; give ", f.help));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ParsedCommandLine> ParseCommandLine(const std::vector<std::string>& args,
                                                   const std::vector<CommandSpec>& commands,
                                                   const std::string& env_coordinator) {
  ParsedCommandLine out;
  out.options.coordinator = env_coordinator.empty() ? kDefaultCoordinator : env_coordinator;
  std::vector<std::string> words;
  if (absl::Status s = Parse(args, commands, out, words); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(s.message(), "\n  ", UsageHint(words)));
  }
  return out;
}

}  // namespace drover::cli
