#include "tests/support/oci_registry.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent-updater/oci/cosign.h"
#include "agent-updater/oci/digest.h"
#include "agent-updater/oci/registry_client.h"
#include "tests/support/test_env.h"

namespace drover::testing {
namespace {

constexpr absl::Duration kStartDeadline = absl::Seconds(30);
constexpr int kPortAttempts = 3;

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::Status Run(const std::vector<std::string>& argv) {
  CommandResult r = RunCommand(argv, absl::Seconds(60));
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat(argv[0], " failed (", r.exit_code, "): ", r.output));
  }
  return absl::OkStatus();
}

struct Reply {
  long status = 0;
  std::map<std::string, std::string> headers;  // lowercase names
  std::string body;
};

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

absl::StatusOr<Reply> Request(const std::string& method, const std::string& url,
                              const std::vector<std::string>& headers, const std::string& body) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  std::unique_ptr<curl_slist, void (*)(curl_slist*)> list(nullptr, curl_slist_free_all);
  for (const std::string& h : headers) list.reset(curl_slist_append(list.release(), h.c_str()));
  Reply reply;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_PROXY, "");
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, list.get());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &Collect);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &reply.body);
  const CURLcode rc = curl_easy_perform(curl.get());
  if (rc != CURLE_OK) return absl::UnavailableError(absl::StrCat(method, " ", url, ": ", curl_easy_strerror(rc)));
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &reply.status);
  curl_header* prev = nullptr;
  while (curl_header* h = curl_easy_nextheader(curl.get(), CURLH_HEADER, -1, prev)) {
    reply.headers[absl::AsciiStrToLower(h->name)] = h->value;
    prev = h;
  }
  return reply;
}

}  // namespace

// --- Processes ------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Spawn(const std::vector<std::string>& argv,
                                                                  const std::string& log_file) {
  auto p = std::unique_ptr<ChildProcess>(new ChildProcess());
  p->log_file_ = log_file;
  p->pid_ = fork();
  if (p->pid_ < 0) return absl::InternalError("fork failed");
  if (p->pid_ == 0) {
    int fd = open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  return p;
}

ChildProcess::~ChildProcess() { Kill(); }

bool ChildProcess::Alive() {
  if (exited_ || pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) exited_ = true;
  return !exited_;
}

void ChildProcess::Kill() {
  if (!Alive()) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  exited_ = true;
}

std::optional<int> ChildProcess::Terminate(absl::Duration deadline) {
  if (exited_ || pid_ <= 0) return std::nullopt;
  kill(pid_, SIGTERM);
  int status = 0;
  const absl::Time until = absl::Now() + deadline;
  while (absl::Now() < until) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  Kill();
  return std::nullopt;
}

std::string ChildProcess::Log() const { return Slurp(log_file_); }

absl::StatusOr<std::unique_ptr<RegistryProcess>> RegistryProcess::Start(const std::string& work_dir,
                                                                         const std::string& storage_dir,
                                                                         const std::string& auth_yaml) {
  std::string last_log;
  for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
    auto r = std::unique_ptr<RegistryProcess>(new RegistryProcess());
    r->address_ = absl::StrCat("127.0.0.1:", FreePort());
    const std::string config = absl::StrCat(work_dir, "/registry-", attempt, ".yml");
    std::string yaml = absl::StrCat("version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: ",
                                    storage_dir, "\n  delete:\n    enabled: true\nhttp:\n  addr: ", r->address_,
                                    "\n  secret: drover-test\n");
    if (!auth_yaml.empty()) absl::StrAppend(&yaml, "auth:\n", auth_yaml);
    if (absl::Status s = WriteText(config, yaml); !s.ok()) return s;
    absl::StatusOr<std::unique_ptr<ChildProcess>> p =
        ChildProcess::Spawn({"docker-registry", "serve", config}, absl::StrCat(work_dir, "/registry-", attempt, ".log"));
    if (!p.ok()) return p.status();
    r->process_ = *std::move(p);
    const bool up = PollUntil(kStartDeadline, [&] {
      return !r->process_->Alive() || HttpGet(r->address_, "/v2/").ok();
    });
    if (up && r->process_->Alive()) return r;
    last_log = r->process_->Log();
    if (!absl::StrContains(last_log, "address already in use")) break;
  }
  return absl::UnavailableError(absl::StrCat("docker-registry did not start: ", last_log));
}

absl::StatusOr<std::unique_ptr<TokenServerProcess>> TokenServerProcess::Start(const std::string& work_dir,
                                                                             const std::string& cert_file,
                                                                             const std::string& key_file,
                                                                             const std::string& user,
                                                                             const std::string& password_file) {
  auto t = std::unique_ptr<TokenServerProcess>(new TokenServerProcess());
  const std::string port_file = work_dir + "/token-port";
  absl::StatusOr<std::unique_ptr<ChildProcess>> p = ChildProcess::Spawn(
      {"python3", absl::StrCat(DROVER_SOURCE_DIR, "/tests/fixtures/oci/token_server.py"), "--cert", cert_file, "--key",
       key_file, "--issuer", kIssuer, "--service", kService, "--user", user, "--password_file", password_file,
       "--port_file", port_file},
      work_dir + "/token-server.log");
  if (!p.ok()) return p.status();
  t->process_ = *std::move(p);
  PollUntil(kStartDeadline, [&] { return !t->process_->Alive() || access(port_file.c_str(), F_OK) == 0; });
  int port = 0;
  if (!t->process_->Alive() || !absl::SimpleAtoi(Slurp(port_file), &port)) {
    return absl::UnavailableError(absl::StrCat("token server did not start: ", t->process_->Log()));
  }
  t->address_ = absl::StrCat("127.0.0.1:", port);
  return t;
}

// --- Pushes -----------------------------------------------------------------------

absl::StatusOr<std::string> PushBlob(const std::string& address, const std::string& repo, const std::string& bytes) {
  const std::string digest = oci::Sha256Digest(bytes);
  absl::StatusOr<Reply> start =
      Request("POST", absl::StrCat("http://", address, "/v2/", repo, "/blobs/uploads/"), {}, "");
  if (!start.ok()) return start.status();
  if (start->status != 202) return absl::InternalError(absl::StrCat("upload start: HTTP ", start->status, start->body));
  std::string location = start->headers["location"];
  if (absl::StartsWith(location, "/")) location = absl::StrCat("http://", address, location);
  absl::StatusOr<Reply> put =
      Request("PUT", absl::StrCat(location, absl::StrContains(location, '?') ? "&" : "?", "digest=", digest),
              {"Content-Type: application/octet-stream"}, bytes);
  if (!put.ok()) return put.status();
  if (put->status != 201) return absl::InternalError(absl::StrCat("blob upload: HTTP ", put->status, put->body));
  return digest;
}

absl::StatusOr<std::string> PushManifest(const std::string& address, const std::string& repo,
                                         const std::string& reference, const std::string& media_type,
                                         const std::string& body) {
  absl::StatusOr<Reply> put = Request("PUT", absl::StrCat("http://", address, "/v2/", repo, "/manifests/", reference),
                                      {absl::StrCat("Content-Type: ", media_type)}, body);
  if (!put.ok()) return put.status();
  if (put->status != 201) return absl::InternalError(absl::StrCat("manifest push: HTTP ", put->status, put->body));
  return oci::Sha256Digest(body);
}

namespace {

nlohmann::json Descriptor(const std::string& media_type, const std::string& digest, size_t size) {
  return {{"mediaType", media_type}, {"digest", digest}, {"size", size}};
}

}  // namespace

absl::StatusOr<std::string> PushImage(const std::string& address, const std::string& repo, const std::string& tag,
                                      const std::string& content, const std::string& work_dir) {
  const std::string root = absl::StrCat(work_dir, "/layer-root");
  if (absl::Status s = Run({"mkdir", "-p", root}); !s.ok()) return s;
  if (absl::Status s = WriteText(root + "/version.txt", content); !s.ok()) return s;
  const std::string tar = work_dir + "/layer.tar";
  // Fixed owner and time: the same content gives the same layer.
  if (absl::Status s = Run({"tar", "--owner=0", "--group=0", "--mtime=@0", "-C", root, "-cf", tar, "version.txt"});
      !s.ok()) {
    return s;
  }
  const std::string layer = Slurp(tar);
  absl::StatusOr<std::string> layer_digest = PushBlob(address, repo, layer);
  if (!layer_digest.ok()) return layer_digest.status();
  const std::string config =
      nlohmann::json{{"architecture", "amd64"},
                     {"os", "linux"},
                     {"config", {{"Entrypoint", {"/bin/true"}}}},
                     {"rootfs", {{"type", "layers"}, {"diff_ids", {*layer_digest}}}}}
          .dump();
  absl::StatusOr<std::string> config_digest = PushBlob(address, repo, config);
  if (!config_digest.ok()) return config_digest.status();
  const std::string manifest =
      nlohmann::json{{"schemaVersion", 2},
                     {"mediaType", oci::kOciManifest},
                     {"config", Descriptor("application/vnd.oci.image.config.v1+json", *config_digest, config.size())},
                     {"layers", {Descriptor("application/vnd.oci.image.layer.v1.tar", *layer_digest, layer.size())}}}
          .dump();
  return PushManifest(address, repo, tag, std::string(oci::kOciManifest), manifest);
}

// --- Cosign -----------------------------------------------------------------------

absl::StatusOr<CosignKeyFiles> MakeCosignKey(const std::string& dir, const std::string& name) {
  CosignKeyFiles k{absl::StrCat(dir, "/", name, ".key"), absl::StrCat(dir, "/", name, ".pub")};
  if (absl::Status s = Run({"openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", k.private_key});
      !s.ok()) {
    return s;
  }
  if (absl::Status s = Run({"openssl", "ec", "-in", k.private_key, "-pubout", "-out", k.public_key}); !s.ok()) {
    return s;
  }
  return k;
}

std::string SimpleSigningPayload(const std::string& image_name, const std::string& digest) {
  return nlohmann::json{{"critical",
                         {{"identity", {{"docker-reference", image_name}}},
                          {"image", {{"docker-manifest-digest", digest}}},
                          {"type", oci::kCosignPayloadType}}},
                        {"optional", nullptr}}
      .dump();
}

absl::StatusOr<std::string> SignPayload(const std::string& private_key, const std::string& payload,
                                        const std::string& work_dir) {
  const std::string in = work_dir + "/payload.json";
  const std::string out = work_dir + "/payload.sig";
  if (absl::Status s = WriteText(in, payload); !s.ok()) return s;
  if (absl::Status s = Run({"openssl", "dgst", "-sha256", "-sign", private_key, "-out", out, in}); !s.ok()) return s;
  return absl::Base64Escape(Slurp(out));
}

absl::StatusOr<std::string> PushCosignSignature(const std::string& address, const std::string& repo,
                                                const std::string& image_digest, const std::string& payload,
                                                const std::string& signature_base64) {
  absl::StatusOr<std::string> payload_digest = PushBlob(address, repo, payload);
  if (!payload_digest.ok()) return payload_digest.status();
  const std::string config =
      nlohmann::json{{"architecture", ""}, {"os", ""}, {"rootfs", {{"type", "layers"}, {"diff_ids", {*payload_digest}}}}}
          .dump();
  absl::StatusOr<std::string> config_digest = PushBlob(address, repo, config);
  if (!config_digest.ok()) return config_digest.status();
  nlohmann::json layer = Descriptor(std::string(oci::kSimpleSigningMediaType), *payload_digest, payload.size());
  layer["annotations"] = {{std::string(oci::kSignatureAnnotation), signature_base64}};
  const std::string manifest =
      nlohmann::json{{"schemaVersion", 2},
                     {"mediaType", oci::kOciManifest},
                     {"config", Descriptor("application/vnd.oci.image.config.v1+json", *config_digest, config.size())},
                     {"layers", {layer}}}
          .dump();
  return PushManifest(address, repo, oci::SignatureTag(image_digest), std::string(oci::kOciManifest), manifest);
}

}  // namespace drover::testing
