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

TEST(CommandLineTest, ShortOutputFlagAndVersion) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"-o", "json", "channels", "list"}, {"channels", "list", "-o=json"}, {"-ojson", "channels", "list"}}) {
    absl::StatusOr<ParsedCommandLine> p = Parse(args);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(p->options.output, OutputFormat::kJson);
  }
  ExpectUsage({"-o", "yaml", "channels", "list"}, "--output=yaml");
  ExpectUsage({"channels", "list", "-o"}, "-o needs a format");
  absl::StatusOr<ParsedCommandLine> v = Parse({"--version"});
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->version);
  EXPECT_EQ(v->command, nullptr);
}

TEST(CommandLineTest, UnknownWordsGetASuggestionWhenOneIsClose) {
  ExpectUsage({"chanels", "list"}, "did you mean \"channels\"?");
  ExpectUsage({"stauts", "x"}, "did you mean \"status\"?");
  ExpectUsage({"agent", "list"}, "did you mean \"agents\"?");
  ExpectUsage({"channels", "lsit"}, "did you mean \"channels list\"?");
  ExpectUsage({"channels", "delete", "x", "--froce"}, "did you mean \"--force\"?");
  ExpectUsage({"--coordinater=h:1", "channels", "list"}, "did you mean \"--coordinator\"?");
  absl::StatusOr<ParsedCommandLine> far = Parse({"frobnicate"});
  ASSERT_FALSE(far.ok());
  EXPECT_FALSE(absl::StrContains(far.status().message(), "did you mean")) << far.status();

  EXPECT_EQ(ClosestMatch("chan", {"channels", "critical"}), "channels");  // a unique prefix
  EXPECT_EQ(ClosestMatch("c", {"channels", "critical"}), "");
  EXPECT_EQ(ClosestMatch("x", {"y"}), "");  // one edit, but nothing in common
  EXPECT_EQ(ClosestMatch("sat", {"set", "sit"}), "");  // a tie: no guess
}

TEST(CommandLineTest, HelpSaysRequiredAndRepeatableOnce) {
  const std::vector<CommandSpec> commands = Commands();
  for (const CommandSpec& c : commands) {
    absl::StatusOr<std::string> text = HelpText(commands, c.words);
    ASSERT_TRUE(text.ok()) << c.Path();
    EXPECT_FALSE(absl::StrContains(*text, "(required) (required)")) << *text;
    EXPECT_FALSE(absl::StrContains(*text, "(repeatable) (repeatable)")) << *text;
    for (const FlagSpec& f : c.flags) {
      // The help adds these marks itself.
      EXPECT_FALSE(absl::StrContains(f.help, "(required)")) << c.Path() << " --" << f.name;
      EXPECT_FALSE(absl::StrContains(f.help, "(repeatable)")) << c.Path() << " --" << f.name;
    }
  }
  EXPECT_TRUE(absl::StrContains(*HelpText(commands, {"critical", "raise"}), "why, e.g. a CVE id (required)"));
}

}  // namespace
}  // namespace drover::cli
