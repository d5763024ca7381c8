// What every droverctl command is made of: its description (words, arguments,
// flags, help), the parsed invocation it runs with, and the result it ends with.
#pragma once

#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "cli/client.h"

namespace drover::cli {

// The exit codes, documented in `droverctl help` and the README.
enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,          // anything not listed below
  kExitUsage = 2,          // bad command, flag or argument (found before any RPC)
  kExitNotFound = 3,       // NOT_FOUND: no such channel or agent
  kExitRefused = 4,        // FAILED_PRECONDITION: refused by the version rules or policy
  kExitInvalid = 5,        // INVALID_ARGUMENT: rejected by the coordinator
  kExitUnavailable = 6,    // coordinator unreachable, timed out, or its database down
  kExitAlreadyExists = 7,  // ALREADY_EXISTS
  kExitDenied = 8,         // UNAUTHENTICATED or PERMISSION_DENIED
};

// How a command ended: an exit code and, unless it succeeded, what to tell the
// operator (what was wrong and what to do).
struct Result {
  int exit_code = kExitOk;
  std::string error;

  static Result Ok() { return {}; }
  static Result Usage(std::string message) { return {kExitUsage, std::move(message)}; }
  static Result Error(std::string message) { return {kExitError, std::move(message)}; }
  bool ok() const { return exit_code == kExitOk; }
};

// A failed RPC as a Result. `what` says what was being done ("set the target of
// channel \"x\""); `hint` (optional) what to do about it, overriding the
// generic advice for the status code.
Result RpcFailure(const grpc::Status& status, const std::string& what, const std::string& address,
                  const std::string& hint = "");

enum class OutputFormat { kTable, kJson };

struct GlobalOptions {
  std::string coordinator;
  OutputFormat output = OutputFormat::kTable;
  absl::Duration timeout = absl::Seconds(10);
  // --token-file; main falls back to $DROVER_TOKEN_FILE, then $DROVER_TOKEN.
  std::string token_file;
  // PEM file of the CA the coordinator's certificate must chain to
  // (default $DROVER_CA_FILE; neither: the system's CAs).
  std::string ca_file;
  // Plaintext, for a coordinator started with --insecure.
  bool insecure = false;
};

struct FlagSpec {
  std::string name;        // without "--"
  std::string value_name;  // e.g. "TEXT"; empty for a boolean flag
  std::string help;
  bool repeated = false;
  bool required = false;  // checked before any RPC
};

// A command line after parsing: positional arguments and flag values.
class Invocation {
 public:
  std::vector<std::string> args;

  bool Has(const std::string& flag) const { return flags_.count(flag) > 0; }
  // Last value given (a boolean flag given without a value reads "true").
  std::string Get(const std::string& flag, const std::string& fallback = "") const;
  const std::vector<std::string>& GetAll(const std::string& flag) const;
  // Boolean flags: absent -> false; "--x", "--x=true" -> true; "--x=false" -> false.
  bool GetBool(const std::string& flag) const { return Has(flag) && Get(flag) != "false"; }
  void Add(const std::string& flag, const std::string& value) { flags_[flag].push_back(value); }

 private:
  std::map<std::string, std::vector<std::string>> flags_;
};

struct CommandContext {
  GlobalOptions options;
  OperatorClient* client;
  std::ostream* out;
  // Asks the operator a yes/no question; set only when stdin is a terminal
  // (scripts are never prompted).
  std::function<bool(const std::string& question)> confirm;
};

struct CommandSpec {
  // Command words, e.g. {"channels", "create"} or {"status"}.
  std::vector<std::string> words;
  // Positional arguments as shown in the synopsis, e.g. "ID VERSION" or "ID SPEC...".
  std::string args_synopsis;
  int min_args = 0;
  int max_args = 0;  // -1: unlimited
  std::string summary;      // one line
  std::string description;  // paragraphs for `help COMMAND`
  std::string json;         // what --output=json prints
  std::vector<FlagSpec> flags;
  std::function<Result(const Invocation&, CommandContext&)> run;

  std::string Path() const;      // "channels create"
  std::string Synopsis() const;  // "channels create ID --control-plane=V [--target=V] ..."
  const FlagSpec* FindFlag(const std::string& name) const;
};

// "stable/cloud" -> "channels/stable/cloud". A name that already carries the
// "channels/" prefix (as printed by --output=json) is kept as it is.
std::string ChannelName(const std::string& id);
// "channels/stable/cloud" -> "stable/cloud".
std::string ChannelId(const std::string& name);

// Command groups, one file each.
std::vector<CommandSpec> ChannelCommands();
std::vector<CommandSpec> TargetCommands();  // target, critical, control-plane
std::vector<CommandSpec> WindowCommands();
std::vector<CommandSpec> StatusCommands();
std::vector<CommandSpec> AgentCommands();
std::vector<CommandSpec> OperatorCommands();  // operators, audit
std::vector<CommandSpec> IdentityCommands();  // tokens create, agents revoke
std::vector<CommandSpec> KeyCommands();  // keys: signed target metadata
std::vector<CommandSpec> RolloutCommands();  // rollout status, controls, policy

}  // namespace drover::cli
