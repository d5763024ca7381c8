// drover-updater's config file, as LoadConfigFile reads it (protobuf text
// format, or JSON for a .json file) and CompleteConfig checks it. A config
// it accepts must yield reports the coordinator accepts (host id, channel,
// group pass the API's validation), and completing it again changes nothing.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <google/protobuf/util/message_differencer.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent-updater/config.h"
#include "common/api_limits.h"
#include "coordinator/api/proto_convert.h"
#include "proto/wire/names.h"
#include "proto/wire/proto_utf8.h"
#include "tests/fuzz/fuzz_check.h"

namespace drover::fuzz {
namespace {

namespace v1 = ::drover::v1;

struct Files {
  std::string dir;
  std::string text_path;
  std::string json_path;
  std::string machine_id_path;
};

void WriteFile(const std::string& path, absl::string_view content) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  FUZZ_CHECK(fd >= 0, path);
  for (size_t done = 0; done < content.size();) {
    const ssize_t n = write(fd, content.data() + done, content.size() - done);
    FUZZ_CHECK(n > 0, path);
    done += static_cast<size_t>(n);
  }
  close(fd);
}

// LoadConfigFile reads a path: one directory per process, in memory when
// /dev/shm exists.
const Files& TheFiles() {
  static const Files* files = [] {
    const char* base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    std::string tmpl = absl::StrCat(base, "/drover-config-fuzz.XXXXXX");
    FUZZ_CHECK(mkdtemp(tmpl.data()) != nullptr, tmpl);
    auto* f = new Files{tmpl, tmpl + "/updater.txtpb", tmpl + "/updater.json", tmpl + "/machine-id"};
    WriteFile(f->machine_id_path, "0123456789abcdef0123456789abcdef\n");
    std::atexit([] {
      unlink(TheFiles().text_path.c_str());
      unlink(TheFiles().json_path.c_str());
      unlink(TheFiles().machine_id_path.c_str());
      rmdir(TheFiles().dir.c_str());
    });
    return f;
  }();
  return *files;
}

void CheckComplete(v1::UpdaterConfig config) {
  const v1::UpdaterConfig loaded = config;
  absl::Status s = updater::CompleteConfig(config, TheFiles().machine_id_path);
  if (!s.ok()) {
    FUZZ_CHECK(s.code() == absl::StatusCode::kInvalidArgument, s.ToString());
    FUZZ_CHECK(absl::StartsWith(s.message(), "config "), s.ToString());
    return;
  }
  const std::string what = config.ShortDebugString();
  // What the updater will send, the coordinator accepts.
  FUZZ_CHECK(api::ValidateHostId("host_id", config.host_id()).ok(), what);
  FUZZ_CHECK(api::ValidateChannelId("channel", config.channel()).ok(), what);
  FUZZ_CHECK(api::ValidateGroup("group", config.group()).ok(), what);
  // host:port with a port.
  const size_t colon = config.coordinator().rfind(':');
  int port = 0;
  FUZZ_CHECK(colon != std::string::npos && colon > 0 &&
                 absl::SimpleAtoi(config.coordinator().substr(colon + 1), &port) && port >= 1 && port <= 65535,
             what);
  FUZZ_CHECK(!config.state_dir().empty() && config.state_dir().front() == '/', what);
  FUZZ_CHECK(config.schedule_file().empty() || config.schedule_file().front() == '/', what);
  FUZZ_CHECK(config.agent().restart_command_size() > 0 && !config.agent().restart_command(0).empty(), what);
  for (const google::protobuf::Duration* d : {&config.poll_interval(), &config.backoff_initial(),
                                              &config.backoff_max(), &config.rpc_timeout()}) {
    FUZZ_CHECK(d->seconds() >= 0 && d->seconds() <= 7 * 24 * 3600 && d->nanos() >= 0, what);
  }
  // Completing a complete config changes nothing. The channel is written
  // back as its name: an id that itself starts with "channels/" would be read
  // as a name ("channels/channels/x" is the channel "channels/x").
  v1::UpdaterConfig again = config;
  again.set_channel(wire::ChannelName(config.channel()));
  s = updater::CompleteConfig(again, TheFiles().machine_id_path);
  FUZZ_CHECK(s.ok(), absl::StrCat(s.ToString(), " for ", what));
  FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(again, config), again.ShortDebugString());
  // Nothing the file said was lost but defaults filled in.
  if (!loaded.host_id().empty()) FUZZ_CHECK(config.host_id() == loaded.host_id(), what);
  if (!loaded.state_dir().empty()) FUZZ_CHECK(config.state_dir() == loaded.state_dir(), what);
}

}  // namespace
}  // namespace drover::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) { return drover::fuzz::Initialize(); }

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace drover;
  using namespace drover::fuzz;
  const absl::string_view text = AsText(data, size);
  const Files& files = TheFiles();

  WriteFile(files.text_path, text);
  absl::StatusOr<v1::UpdaterConfig> config = updater::LoadConfigFile(files.text_path);
  if (config.ok()) {
    CheckComplete(*config);
  } else {
    FUZZ_CHECK(config.status().code() == absl::StatusCode::kInvalidArgument, config.status().ToString());
  }
  // JSON only for what looks like it: protobuf's JSON parser refuses the
  // rest at the first byte.
  if (absl::StartsWith(absl::StripLeadingAsciiWhitespace(text), "{")) {
    WriteFile(files.json_path, text);
    config = updater::LoadConfigFile(files.json_path);
    if (config.ok()) {
      CheckComplete(*config);
    } else {
      FUZZ_CHECK(config.status().code() == absl::StatusCode::kInvalidArgument, config.status().ToString());
    }
  }
  return 0;
}
