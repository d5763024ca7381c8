#include "agent-updater/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/api_limits.h"
#include "common/atomic_file.h"

namespace drover::updater {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/drover-config-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  // Leaves no /tmp/drover-config-test-* behind.
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    EXPECT_FALSE(ec) << dir_ << ": " << ec.message();
  }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    EXPECT_TRUE(WriteFileAtomically(path, text).ok());
    return path;
  }
  static constexpr char kGood[] = R"(
coordinator: "coord.example:7600"
channel: "stable/cloud"
root_public_key_file: "/etc/drover/root.pub"
agent {
  name: "teleport"
  apt { source_list: "/etc/apt/sources.list.d/teleport.list" }
  restart_command: ["systemctl", "try-restart", "teleport"]
  health_check { http { url: "http://127.0.0.1:3000/readyz" } }
}
)";
  std::string dir_;
};

TEST_F(ConfigTest, LoadsTextAndJsonAndFillsDefaults) {
  absl::StatusOr<v1::UpdaterConfig> c = LoadConfigFile(Write("u.conf", kGood));
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string machine_id = Write("machine-id", "0123456789abcdef\n");
  ASSERT_TRUE(CompleteConfig(*c, machine_id).ok());
  EXPECT_EQ(c->host_id(), "0123456789abcdef");
  EXPECT_EQ(c->state_dir(), "/var/lib/drover-updater");

  absl::StatusOr<v1::UpdaterConfig> j = LoadConfigFile(Write(
      "u.json", R"({"coordinator":"c:1","channel":"channels/beta","hostId":"h","rootPublicKeyFile":"/etc/drover/root.pub","agent":{"name":"a",
      "tarball":{"base":"/srv","publicKeyFile":"/k.pem","installDir":"/opt/a"},"restartCommand":["/bin/true"],
      "healthCheck":{"command":{"argv":["/bin/true"]}}}})"));
  ASSERT_TRUE(j.ok()) << j.status();
  ASSERT_TRUE(CompleteConfig(*j).ok());
  EXPECT_EQ(j->channel(), "beta");  // "channels/" accepted and dropped
}

TEST_F(ConfigTest, SyntaxErrorsAndUnknownFieldsNameTheLine) {
  absl::StatusOr<v1::UpdaterConfig> c = LoadConfigFile(Write("bad.conf", "coordinator: \"a:1\"\nchanell: \"x\"\n"));
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(c.status().message(), "line 2")) << c.status();
  EXPECT_TRUE(absl::StrContains(c.status().message(), "chanell")) << c.status();
  absl::StatusOr<v1::UpdaterConfig> j = LoadConfigFile(Write("bad.json", R"({"coordinatorr":"a:1"})"));
  EXPECT_EQ(j.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LoadConfigFile(dir_ + "/missing.conf").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ConfigTest, EveryBadFieldIsNamed) {
  const std::string machine_id = Write("machine-id", "abc\n");
  struct Case {
    std::function<void(v1::UpdaterConfig&)> edit;
    std::string mentions;
  };
  const std::vector<Case> cases = {
      {[](auto& c) { c.clear_coordinator(); }, "coordinator is required"},
      {[](auto& c) { c.set_coordinator("nohost"); }, "\"nohost\""},
      {[](auto& c) { c.set_coordinator("h:99999"); }, "\"h:99999\""},
      {[](auto& c) { c.clear_channel(); }, "channel is required"},
      {[](auto& c) { c.set_channel("Stable"); }, "\"Stable\""},
      {[](auto& c) { c.set_group("g g"); }, "\"g g\""},
      {[](auto& c) { c.set_host_id("bad host"); }, "\"bad host\""},
      {[](auto& c) { c.set_state_dir("relative/dir"); }, "\"relative/dir\""},
      {[](auto& c) { c.mutable_poll_interval()->set_seconds(-1); }, "poll_interval"},
      {[](auto& c) { c.mutable_agent()->clear_name(); }, "agent.name is required"},
      {[](auto& c) { c.mutable_agent()->set_name("bad name"); }, "\"bad name\""},
      {[](auto& c) { c.mutable_agent()->mutable_apt()->clear_source_list(); }, "agent.apt.source_list"},
      {[](auto& c) { c.mutable_agent()->clear_apt(); }, "agent installer"},
      {[](auto& c) { c.mutable_agent()->clear_restart_command(); }, "agent.restart_command"},
      {[](auto& c) { c.mutable_agent()->clear_health_check(); }, "agent.health_check"},
      {[](auto& c) { c.set_schedule_file("sched"); }, "\"sched\""},
      {[](auto& c) { c.clear_root_public_key_file(); }, "root_public_key_file is required"},
      {[](auto& c) { c.set_root_public_key_file("root.pub"); }, "\"root.pub\""},
      // A token without the CA used to be ignored without a word.
      {[](auto& c) { c.set_join_token_file("/etc/drover/join.token"); },
       "join_token_file \"/etc/drover/join.token\": needs coordinator_ca_file"},
  };
  for (const Case& k : cases) {
    absl::StatusOr<v1::UpdaterConfig> c = LoadConfigFile(Write("u.conf", kGood));
    ASSERT_TRUE(c.ok());
    k.edit(*c);
    absl::Status s = CompleteConfig(*c, machine_id);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << k.mentions;
    EXPECT_TRUE(absl::StrContains(s.message(), k.mentions)) << s;
  }
  absl::StatusOr<v1::UpdaterConfig> c = LoadConfigFile(Write("u.conf", kGood));
  EXPECT_TRUE(absl::StrContains(CompleteConfig(*c, dir_ + "/no-machine-id").message(), "host_id"));
  // Unsigned targets only when asked for in so many words.
  c->clear_root_public_key_file();
  c->set_insecure_unsigned_targets(true);
  EXPECT_TRUE(CompleteConfig(*c, machine_id).ok());
  // A token with the CA is what enrolment wants.
  c->set_join_token_file("/etc/drover/join.token");
  c->set_coordinator_ca_file("/etc/drover/ca.pem");
  EXPECT_TRUE(CompleteConfig(*c, machine_id).ok());
}

// "channels/" alone is refused by name, not read as an empty channel id
// (found by tests/fuzz/updater_config_fuzzer: the check read past the end
// of the empty id).
TEST_F(ConfigTest, ChannelPrefixAloneIsRefused) {
  const std::string machine_id = Write("machine-id", "abc\n");
  absl::StatusOr<v1::UpdaterConfig> c = LoadConfigFile(Write("u.conf", kGood));
  ASSERT_TRUE(c.ok());
  c->set_channel("channels/");
  absl::Status s = CompleteConfig(*c, machine_id);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "channel \"channels/\"")) << s;
  // A name keeps working, and the id it names is what the config holds.
  c->set_channel("channels/stable/cloud");
  ASSERT_TRUE(CompleteConfig(*c, machine_id).ok());
  EXPECT_EQ(c->channel(), "stable/cloud");
}

// The updater accepts exactly what the coordinator does (common/api_limits.h).
TEST_F(ConfigTest, IdentifierLengthsAreTheCoordinators) {
  struct Case {
    std::function<void(v1::UpdaterConfig&, size_t)> set;
    size_t max;
  };
  const std::vector<Case> cases = {
      {[](auto& c, size_t n) { c.set_host_id(std::string(n, 'h')); }, kMaxHostIdLength},
      {[](auto& c, size_t n) { c.set_channel(std::string(n, 'c')); }, kMaxChannelIdLength},
      {[](auto& c, size_t n) { c.set_group(std::string(n, 'g')); }, kMaxGroupLength},
  };
  for (const Case& k : cases) {
    absl::StatusOr<v1::UpdaterConfig> c = LoadConfigFile(Write("u.conf", kGood));
    ASSERT_TRUE(c.ok());
    k.set(*c, k.max);
    EXPECT_TRUE(CompleteConfig(*c).ok()) << k.max;
    k.set(*c, k.max + 1);
    absl::Status s = CompleteConfig(*c);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << k.max;
    EXPECT_TRUE(absl::StrContains(s.message(), absl::StrCat(k.max, " characters"))) << s;
  }
}

}  // namespace
}  // namespace drover::updater
