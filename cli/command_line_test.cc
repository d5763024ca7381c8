#include "cli/command_line.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "cli/help.h"

namespace drover::cli {
namespace {

std::vector<CommandSpec> Commands() {
  std::vector<CommandSpec> all;
  for (auto group : {ChannelCommands, TargetCommands, WindowCommands, StatusCommands, AgentCommands}) {
    for (CommandSpec& c : group()) all.push_back(std::move(c));
  }
  return all;
}

absl::StatusOr<ParsedCommandLine> Parse(const std::vector<std::string>& args, const std::string& env = "") {
  static const std::vector<CommandSpec>* const kCommands = new std::vector<CommandSpec>(Commands());
  return ParseCommandLine(args, *kCommands, env);
}

void ExpectUsage(const std::vector<std::string>& args, const std::string& mentions) {
  absl::StatusOr<ParsedCommandLine> p = Parse(args);
  ASSERT_FALSE(p.ok()) << mentions;
  EXPECT_TRUE(absl::StrContains(p.status().message(), mentions)) << p.status();
}

TEST(CommandLineTest, GlobalFlagsAnywhereAndCommandFlagsAfterTheCommand) {
  absl::StatusOr<ParsedCommandLine> p =
      Parse({"--output=json", "channels", "create", "--control-plane", "15.0.0", "beta", "--coordinator=h:1",
             "--window=daily 02:00 1h", "--window", "mon 03:00 1h"});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->command->Path(), "channels create");
  EXPECT_EQ(p->options.output, OutputFormat::kJson);
  EXPECT_EQ(p->options.coordinator, "h:1");
  EXPECT_EQ(p->invocation.args, std::vector<std::string>{"beta"});
  EXPECT_EQ(p->invocation.Get("control-plane"), "15.0.0");
  EXPECT_EQ(p->invocation.GetAll("window").size(), 2u);
}

TEST(CommandLineTest, CoordinatorDefaultsToEnvironmentThenLocalhost) {
  EXPECT_EQ(Parse({"channels", "list"})->options.coordinator, "127.0.0.1:7600");
  EXPECT_EQ(Parse({"channels", "list"}, "env:9")->options.coordinator, "env:9");
  EXPECT_EQ(Parse({"channels", "list", "--coordinator=flag:1"}, "env:9")->options.coordinator, "flag:1");
}

TEST(CommandLineTest, BooleanFlags) {
  absl::StatusOr<ParsedCommandLine> p = Parse({"channels", "delete", "x", "--force"});
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->invocation.GetBool("force"));
  EXPECT_FALSE(Parse({"channels", "delete", "x", "--force=false"})->invocation.GetBool("force"));
  ExpectUsage({"channels", "delete", "x", "--force=yes"}, "--force takes no value");
}

TEST(CommandLineTest, UsageErrorsNameTheProblem) {
  ExpectUsage({}, "no command");
  ExpectUsage({"chanels"}, "unknown command \"chanels\"");
  ExpectUsage({"channels"}, "needs a subcommand: list, show, create, delete, history");
  ExpectUsage({"channels", "frobnicate"}, "unknown command \"channels frobnicate\"");
  ExpectUsage({"channels", "show"}, "needs ID");
  ExpectUsage({"channels", "show", "a", "b"}, "unexpected argument \"b\"");
  ExpectUsage({"channels", "list", "--bogus"}, "unknown flag --bogus");
  ExpectUsage({"--bogus", "channels", "list"}, "unknown flag --bogus");
  ExpectUsage({"channels", "create", "x"}, "--control-plane");
  ExpectUsage({"critical", "raise", "x", "--reason"}, "--reason needs a value");
  ExpectUsage({"--output=yaml", "channels", "list"}, "--output=yaml");
  ExpectUsage({"target", "set", "x", "1.0.0", "--allow-downgrade", "--allow-downgrade"}, "more than once");
}

TEST(CommandLineTest, HelpEverywhere) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"help"}, {"--help"}, {"-h"}, {"help", "channels", "create"},
                                             {"channels", "create", "--help"}, {"channels", "--help"}}) {
    absl::StatusOr<ParsedCommandLine> p = Parse(args);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_TRUE(p->help);
  }
  EXPECT_EQ(Parse({"channels", "create", "--help"})->help_topic, (std::vector<std::string>{"channels", "create"}));
  const std::vector<CommandSpec> commands = Commands();
  absl::StatusOr<std::string> overview = HelpText(commands, {});
  ASSERT_TRUE(overview.ok());
  for (const CommandSpec& c : commands) EXPECT_TRUE(absl::StrContains(*overview, c.Path())) << c.Path();
  EXPECT_TRUE(absl::StrContains(*overview, "Exit codes"));
  EXPECT_FALSE(HelpText(commands, {"nope"}).ok());
  EXPECT_TRUE(absl::StrContains(*HelpText(commands, {"channels"}), "channels history"));
}

}  // namespace
}  // namespace drover::cli
