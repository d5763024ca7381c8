// drover-kube-updater: flags -> the pieces of one pass, and the loop that
// runs passes at the coordinator's pace and when the workload or its
// schedule changes. The pass itself is the host updater's (updater.h).
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "agent-updater/kube/change_watch.h"
#include "agent-updater/kube/image_patch.h"
#include "agent-updater/kube/kube_api.h"
#include "agent-updater/kube/kube_schedule.h"
#include "agent-updater/kube/workload.h"
#include "agent-updater/kube/workload_installer.h"
#include "agent-updater/oci/image_verifier.h"
#include "agent-updater/state/state_store.h"
#include "agent-updater/target/coordinator_client.h"
#include "agent-updater/target/host_identity.h"
#include "agent-updater/updater.h"
#include "common/atomic_file.h"
#include "common/clock.h"
#include "common/log.h"
#include "nlohmann/json.hpp"

ABSL_FLAG(std::string, coordinator, "", "Coordinator gRPC address host:port");
ABSL_FLAG(std::string, channel, "", "Channel to follow, e.g. stable/cloud");
ABSL_FLAG(std::string, group, "", "Rollout group of this workload (staged rollouts)");
ABSL_FLAG(std::string, cluster, "",
          "Required: this cluster's name, first part of the host id <cluster>:<ns>:<kind>.<name> (unique per "
          "cluster: two clusters with the same name would share one host id)");
ABSL_FLAG(std::string, namespace, "", "The agent's namespace (downward API metadata.namespace; default: the "
                                      "service account's namespace file)");
ABSL_FLAG(std::string, workload, "", "The agent's workload: deployment/NAME or statefulset/NAME");
ABSL_FLAG(std::string, container, "", "The agent's container (default: the only one, or the one named like the workload)");
ABSL_FLAG(std::string, tag_prefix, "", "Image tag = prefix + version (Teleport: empty, tags like 15.1.3)");
ABSL_FLAG(std::string, shared_state_secret, "", "Secret holding the agent's schedule (default: <workload>-shared-state)");
ABSL_FLAG(std::string, public_key_file, "", "PEM cosign public key images must be signed with (required)");
ABSL_FLAG(std::string, registry_ca_file, "", "PEM CA for the registry (default: the system store)");
ABSL_FLAG(bool, registry_plain_http, false, "Plain HTTP to the registry (tests only)");
ABSL_FLAG(std::string, registry_username, "", "Registry user (basic auth or token realm)");
ABSL_FLAG(std::string, registry_password_file, "", "File holding the registry password");
ABSL_FLAG(std::string, root_public_key_file, "", "Pinned root key of the coordinator's signed target metadata");
ABSL_FLAG(bool, insecure_unsigned_targets, false, "Act on unsigned coordinator answers (test setups only)");
ABSL_FLAG(std::string, coordinator_ca_file, "", "CA of the coordinator's TLS certificate (TLS on)");
ABSL_FLAG(std::string, join_token_file, "", "Join token to enrol with (a file, e.g. a mounted Secret)");
ABSL_FLAG(std::string, state_dir, "/var/lib/drover-kube-updater", "State directory (emptyDir or PVC)");
ABSL_FLAG(bool, report_only, false, "Decide and report, never patch (GitOps)");
ABSL_FLAG(absl::Duration, rollout_timeout, absl::Minutes(10), "Time for a rollout to complete before a roll-back");
ABSL_FLAG(absl::Duration, rollout_watch, absl::Seconds(30), "Time a completed rollout must stay healthy");
ABSL_FLAG(int, max_restarts, 2, "Restarts of a not-ready pod of the new image before the rollout is failed");
ABSL_FLAG(std::string, kube_api, "", "Kubernetes API URL (default: in-cluster KUBERNETES_SERVICE_HOST/_PORT)");
ABSL_FLAG(std::string, kube_ca_file, "", "CA of the Kubernetes API (default: the service account's ca.crt)");
ABSL_FLAG(std::string, kube_token_file, "", "Bearer token file (default: the service account's token, reread per request)");
ABSL_FLAG(absl::Duration, kube_poll_interval, absl::Seconds(10),
          "How often the workload and schedule are read for changes while a watch of them is not streaming");
ABSL_FLAG(absl::Duration, kube_watch_timeout, absl::Minutes(5),
          "timeoutSeconds of each watch request (the stream is opened again after it)");
ABSL_FLAG(absl::Duration, min_pass_interval, absl::Seconds(5),
          "Least time between two passes run because the workload, its pods or its schedule changed");
ABSL_FLAG(absl::Duration, rpc_timeout, absl::Seconds(10), "Timeout of each coordinator call");
ABSL_FLAG(bool, once, false, "Run one pass and exit (0 ok, 1 failed or refused, 2 bad flags)");

namespace drover::updater::kube {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

std::atomic<bool> g_stop{false};
void OnStop(int) { g_stop = true; }

// metadata.resourceVersion when it is a string; "" for anything else (the
// API's answer is not trusted to have the expected types).
std::string ResourceVersionOf(const nlohmann::json& doc) {
  if (!doc.is_object()) return "";
  auto meta = doc.find("metadata");
  if (meta == doc.end() || !meta->is_object()) return "";
  auto rv = meta->find("resourceVersion");
  return rv != meta->end() && rv->is_string() ? rv->get<std::string>() : "";
}


struct Setup {
  WorkloadTarget target;
  std::string host_id;
  std::string secret;
  std::string schedule_file;
  std::unique_ptr<KubeApi> api;
  std::optional<oci::CosignVerifier> cosign;
  std::optional<trust::TrustedRoot> root;
};

int Fail(int code, const std::string& message) {
  LogError(message);
  return code;
}

// The Secret's schedule written where the pass reads its schedule file:
// removed when there is none (Secret or key missing: updates go ahead as
// soon as possible, as Teleport's rules say for an unknown schedule). Other
// API errors stop the pass: a schedule that exists but cannot be read must
// not be taken for none. Returns the Secret's resourceVersion.
std::string SecretPath(const Setup& s) {
  return absl::StrCat("/api/v1/namespaces/", s.target.workload.namespace_name, "/secrets/", s.secret);
}

absl::StatusOr<std::string> ExportSchedule(Setup& s) {
  absl::StatusOr<std::string> body = s.api->Get(SecretPath(s));
  const std::string origin = absl::StrCat("Secret ", s.secret, " key ", kScheduleKey);
  if (absl::IsNotFound(body.status())) {
    std::remove(s.schedule_file.c_str());
    return std::string("absent");
  }
  if (!body.ok()) return body.status();
  nlohmann::json doc = nlohmann::json::parse(*body, nullptr, false);
  std::string version = ResourceVersionOf(doc);
  std::string encoded;
  if (doc.is_object() && doc.contains("data") && doc["data"].is_object() && doc["data"].contains(kScheduleKey) &&
      doc["data"][kScheduleKey].is_string()) {
    encoded = doc["data"][kScheduleKey].get<std::string>();
  } else {
    std::remove(s.schedule_file.c_str());
    return version;
  }
  std::string text;
  std::string content;
  if (!absl::Base64Unescape(encoded, &text)) {
    content = absl::StrCat("# ", origin, " is not base64\nmalformed\n");
  } else if (absl::StatusOr<Schedule> parsed = ParseKubeSchedule(text); !parsed.ok()) {
    // Left for the pass to find unreadable (it says so in its report).
    LogError(absl::StrCat(origin, ": ", parsed.status().message()));
    content = absl::StrCat("# ", origin, " is malformed\nmalformed\n");
  } else {
    content = ToTeleportScheduleFile(*parsed, origin);
  }
  if (absl::Status w = WriteFileAtomically(s.schedule_file, content); !w.ok()) return w;
  return version;
}

ImageVerifier MakeVerifier(Setup& s) {
  return [&s](const std::string& tagged) -> absl::StatusOr<std::string> {
    absl::StatusOr<oci::ImageReference> ref = oci::ParseImageReference(tagged);
    if (!ref.ok()) return ref.status();
    oci::RegistryClientOptions options;
    options.plain_http = absl::GetFlag(FLAGS_registry_plain_http);
    options.ca_file = absl::GetFlag(FLAGS_registry_ca_file);
    options.username = absl::GetFlag(FLAGS_registry_username);
    options.password_file = absl::GetFlag(FLAGS_registry_password_file);
    absl::StatusOr<std::unique_ptr<oci::RegistryClient>> registry = oci::RegistryClient::Create(ref->registry, options);
    if (!registry.ok()) return registry.status();
    absl::StatusOr<oci::VerifiedImage> v = oci::VerifyImage(**registry, *s.cosign, *ref);
    if (!v.ok()) return v.status();
    return PinnedImage(tagged, v->digest);
  };
}

struct PassOutcome {
  int exit_code = kExitOk;
  absl::Duration next = absl::Minutes(1);
  std::string workload_version;  // resourceVersions the pass saw
  std::string secret_version;
};

PassOutcome RunOnePass(Setup& s, const ImageVerifier& verify, RealClock& clock) {
  PassOutcome out;
  out.next = absl::GetFlag(FLAGS_kube_poll_interval);
  // The API first: without the workload there is nothing to decide, and a
  // refused token or missing RBAC is said plainly, before anything else.
  absl::StatusOr<FetchedWorkload> fetched = FetchWorkload(*s.api, s.target);
  if (!fetched.ok()) {
    LogError(absl::StrCat("pass skipped, nothing changed: ", s.target.workload.KindName(), " ",
                          s.target.workload.name, ": ", fetched.status().message()));
    out.exit_code = kExitFailed;
    return out;
  }
  out.workload_version = fetched->workload.resource_version;
  absl::StatusOr<std::string> secret_version = ExportSchedule(s);
  if (!secret_version.ok()) {
    LogError(absl::StrCat("pass skipped, nothing changed: the schedule: ", secret_version.status().message()));
    out.exit_code = kExitFailed;
    return out;
  }
  out.secret_version = *secret_version;
  const UpdateModeChoice mode = ChooseUpdateMode(fetched->workload.annotations, absl::GetFlag(FLAGS_report_only));
  if (!mode.warning.empty()) LogWarning(mode.warning);

  v1::UpdaterConfig config;
  config.set_coordinator(absl::GetFlag(FLAGS_coordinator));
  config.set_channel(absl::GetFlag(FLAGS_channel));
  config.set_group(absl::GetFlag(FLAGS_group));
  config.set_host_id(s.host_id);
  config.set_state_dir(absl::GetFlag(FLAGS_state_dir));
  config.set_schedule_file(s.schedule_file);
  config.mutable_agent()->set_name(absl::StrCat(s.target.workload.KindName(), " ", s.target.workload.name));
  config.mutable_agent()->mutable_health_grace()->set_seconds(
      absl::ToInt64Seconds(absl::GetFlag(FLAGS_rollout_timeout)));
  config.mutable_agent()->mutable_health_watch()->set_seconds(
      absl::ToInt64Seconds(absl::GetFlag(FLAGS_rollout_watch)));

  const absl::Duration rpc_timeout = absl::GetFlag(FLAGS_rpc_timeout);
  std::unique_ptr<CoordinatorClient> coordinator;
  if (absl::GetFlag(FLAGS_coordinator_ca_file).empty()) {
    coordinator = MakeGrpcCoordinatorClient(config.coordinator(), rpc_timeout);
  } else {
    HostIdentityOptions identity_options{config.coordinator(), absl::GetFlag(FLAGS_coordinator_ca_file),
                                         absl::GetFlag(FLAGS_join_token_file), config.state_dir(), s.host_id,
                                         rpc_timeout, true};
    absl::StatusOr<HostIdentity> identity = PrepareHostIdentity(identity_options, absl::Now());
    if (!identity.ok()) {
      LogError(absl::StrCat("host identity: ", identity.status().message()));
      out.exit_code = kExitFailed;
      return out;
    }
    if (!identity->note.empty()) Log(identity->warning ? "WARN" : "INFO", absl::StrCat("host identity: ", identity->note));
    coordinator = MakeGrpcCoordinatorClient(config.coordinator(), rpc_timeout, identity->tls);
  }
  WorkloadInstaller installer(s.api.get(), s.target, verify);
  RolloutHealthCheck health(s.api.get(), s.target, absl::GetFlag(FLAGS_max_restarts), &installer);
  // The pass takes a failed health check for an unhealthy agent and updates
  // at once; a pod list it cannot read (403, 5xx) must skip the pass instead.
  if (absl::Status seen = health.Observe(); !seen.ok()) {
    LogError(absl::StrCat("pass skipped, nothing changed: ", seen.message()));
    out.exit_code = kExitFailed;
    return out;
  }
  StateStore store(config.state_dir());
  if (absl::Status st = store.Init(); !st.ok()) {
    LogError(std::string(st.message()));
    out.exit_code = kExitFailed;
    return out;
  }
  UpdaterDeps deps;
  deps.coordinator = coordinator.get();
  deps.installer = &installer;
  deps.health = &health;
  deps.state = &store;
  deps.clock = &clock;
  // The patch itself starts the rollout.
  deps.restart = [] { return absl::OkStatus(); };
  // Only health watches pause. SIGTERM in an update's rollout watch (a
  // drain, a rescheduled pod) exits at once instead of holding the pod for
  // up to --rollout_timeout: the update was recorded as in progress before
  // the patch, and the next start judges its rollout again
  // (Updater::Recover). A roll-back's watch is finished first: that the
  // version was rolled back is only recorded after it.
  deps.pause = [&installer](absl::Duration d) {
    for (const absl::Time until = absl::Now() + d; absl::Now() < until;) {
      if (g_stop && !installer.rolling_back()) {
        LogInfo("stopping during the rollout watch; the update in progress is on disk and the next start "
                "watches its rollout again");
        std::fflush(stderr);
        std::_Exit(kExitOk);
      }
      absl::SleepFor(std::min(until - absl::Now(), absl::Milliseconds(100)));
    }
  };
  deps.pinned_root = s.root;
  deps.policy = [&mode] {
    UpdatePolicy p;
    p.mode = mode.mode == UpdateMode::kDisabled     ? UpdatePolicy::Mode::kDisabled
             : mode.mode == UpdateMode::kReportOnly ? UpdatePolicy::Mode::kReportOnly
                                                    : UpdatePolicy::Mode::kEnabled;
    p.source = mode.source;
    return p;
  };
  Updater updater(config, deps);
  absl::StatusOr<PassResult> r = updater.RunPass();
  if (!r.ok()) {
    LogError(absl::StrCat("pass failed: ", r.status().message()));
    out.exit_code = kExitFailed;
    return out;
  }
  Log(r->summary_level, absl::StrCat("pass: ", r->summary));
  const bool failed = (r->outcome && r->outcome->result() != v1::UPDATE_RESULT_SUCCEEDED) ||
                      r->decision.action == Action::kRefuse || r->metadata_refused;
  out.exit_code = failed ? kExitFailed : kExitOk;
  out.next = r->next_sync > absl::ZeroDuration() ? r->next_sync : r->poll_interval;
  // A pass that changed the workload saw an older version of it.
  if (r->outcome) out.workload_version.clear();
  return out;
}

int Main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "drover-kube-updater keeps a Teleport agent's Deployment or StatefulSet on its Drover channel's target.\n"
      "See README.md, \"Kubernetes updater\".");
  absl::ParseCommandLine(argc, argv);
  Setup s;
  std::string ns = absl::GetFlag(FLAGS_namespace);
  if (ns.empty()) {
    if (absl::StatusOr<std::string> f = ReadFile(absl::StrCat(kServiceAccountDir, "/namespace")); f.ok()) {
      ns = std::string(absl::StripAsciiWhitespace(*f));
    }
  }
  absl::StatusOr<WorkloadRef> ref = ParseWorkloadRef(absl::GetFlag(FLAGS_workload), ns);
  if (!ref.ok()) return Fail(kExitUsage, std::string(ref.status().message()));
  if (absl::GetFlag(FLAGS_coordinator).empty() || absl::GetFlag(FLAGS_channel).empty()) {
    return Fail(kExitUsage, "--coordinator and --channel are required");
  }
  if (absl::GetFlag(FLAGS_cluster).empty()) {
    return Fail(kExitUsage,
                "--cluster is required: a name unique to this cluster (the same workload in two clusters must not "
                "share a host id)");
  }
  absl::StatusOr<std::string> host_id = KubeHostId(absl::GetFlag(FLAGS_cluster), *ref);
  if (!host_id.ok()) return Fail(kExitUsage, std::string(host_id.status().message()));
  s.host_id = *host_id;
  const std::string state_dir = absl::GetFlag(FLAGS_state_dir);
  s.target = {*ref, absl::GetFlag(FLAGS_container), absl::GetFlag(FLAGS_tag_prefix),
              absl::StrCat(state_dir, "/previous-image")};
  s.secret = absl::GetFlag(FLAGS_shared_state_secret).empty() ? absl::StrCat(ref->name, kSharedStateSuffix)
                                                              : absl::GetFlag(FLAGS_shared_state_secret);
  s.schedule_file = absl::StrCat(state_dir, "/schedule");

  KubeApiOptions api_options;
  if (absl::GetFlag(FLAGS_kube_api).empty()) {
    absl::StatusOr<KubeApiOptions> in_cluster = InClusterOptions();
    if (!in_cluster.ok()) return Fail(kExitUsage, std::string(in_cluster.status().message()));
    api_options = *in_cluster;
  } else {
    api_options.server = absl::GetFlag(FLAGS_kube_api);
    api_options.ca_file = absl::StrCat(kServiceAccountDir, "/ca.crt");
    api_options.token_file = absl::StrCat(kServiceAccountDir, "/token");
  }
  if (!absl::GetFlag(FLAGS_kube_ca_file).empty()) api_options.ca_file = absl::GetFlag(FLAGS_kube_ca_file);
  if (!absl::GetFlag(FLAGS_kube_token_file).empty()) api_options.token_file = absl::GetFlag(FLAGS_kube_token_file);
  if (absl::StartsWith(api_options.server, "http://")) api_options.ca_file.clear();
  if (absl::GetFlag(FLAGS_kube_watch_timeout) < absl::Seconds(1)) {
    return Fail(kExitUsage, absl::StrCat("--kube_watch_timeout=", absl::FormatDuration(absl::GetFlag(FLAGS_kube_watch_timeout)),
                                         ": want at least 1s"));
  }
  // The stream's own limit: past the timeoutSeconds the server was asked for.
  api_options.watch_timeout = absl::GetFlag(FLAGS_kube_watch_timeout) + absl::Minutes(1);
  s.api = MakeCurlKubeApi(api_options);

  if (absl::GetFlag(FLAGS_public_key_file).empty()) {
    return Fail(kExitUsage, "--public_key_file (the cosign key images must be signed with) is required");
  }
  absl::StatusOr<oci::CosignVerifier> cosign = oci::CosignVerifier::FromPemFile(absl::GetFlag(FLAGS_public_key_file));
  if (!cosign.ok()) return Fail(kExitUsage, absl::StrCat("--public_key_file: ", cosign.status().message()));
  s.cosign = *std::move(cosign);
  if (!absl::GetFlag(FLAGS_root_public_key_file).empty()) {
    absl::StatusOr<std::string> pem = ReadFile(absl::GetFlag(FLAGS_root_public_key_file));
    if (!pem.ok()) return Fail(kExitUsage, absl::StrCat("--root_public_key_file: ", pem.status().message()));
    absl::StatusOr<trust::TrustedRoot> root = trust::TrustedRootFromPem(
        *pem, absl::StrCat("--root_public_key_file ", absl::GetFlag(FLAGS_root_public_key_file)));
    if (!root.ok()) return Fail(kExitUsage, std::string(root.status().message()));
    s.root = *std::move(root);
  } else if (!absl::GetFlag(FLAGS_insecure_unsigned_targets)) {
    return Fail(kExitUsage,
                "--root_public_key_file is required (or --insecure_unsigned_targets, for test setups only)");
  }
  if (absl::Status st = StateStore(state_dir).Init(); !st.ok()) return Fail(kExitFailed, std::string(st.message()));
  // Two updaters sharing a state volume would interleave their sequences.
  absl::StatusOr<PassLock> lock = PassLock::Acquire(state_dir, false);
  if (!lock.ok()) return Fail(kExitFailed, std::string(lock.status().message()));

  const ImageVerifier verify = MakeVerifier(s);
  RealClock clock;
  LogInfo(absl::StrCat("managing ", ref->KindName(), " ", ref->namespace_name, "/", ref->name, " as host ", s.host_id,
                       " on channel ", absl::GetFlag(FLAGS_channel)));
  if (absl::GetFlag(FLAGS_once)) return RunOnePass(s, verify, clock).exit_code;

  signal(SIGTERM, OnStop);
  signal(SIGINT, OnStop);
  const std::string ns_path = absl::StrCat("/namespaces/", ref->namespace_name);
  ChangeWatcher watcher(s.api.get(), absl::GetFlag(FLAGS_kube_watch_timeout));
  watcher.Add({absl::StrCat(ref->KindName(), " ", ref->name), absl::StrCat("/apis/apps/v1", ns_path, "/", ref->kind, "s"),
               absl::StrCat("fieldSelector=", QueryEscape(absl::StrCat("metadata.name=", ref->name)))});
  watcher.Add({absl::StrCat("Secret ", s.secret), absl::StrCat("/api/v1", ns_path, "/secrets"),
               absl::StrCat("fieldSelector=", QueryEscape(absl::StrCat("metadata.name=", s.secret)))});
  bool watching_pods = false;
  absl::Time last_pass = absl::InfinitePast();
  while (!g_stop) {
    last_pass = absl::Now();
    watcher.WaitForChange(last_pass);  // what changed so far, this pass sees
    const PassOutcome pass = RunOnePass(s, verify, clock);
    if (!watching_pods) {
      // The pods by the workload's selector (immutable in apps/v1), once it
      // has been read.
      if (absl::StatusOr<FetchedWorkload> w = FetchWorkload(*s.api, s.target); w.ok()) {
        if (absl::StatusOr<std::string> sel = LabelSelector(w->workload.match_labels); sel.ok()) {
          watcher.Add({absl::StrCat("the pods of ", ref->name), absl::StrCat("/api/v1", ns_path, "/pods"),
                       absl::StrCat("labelSelector=", QueryEscape(*sel))});
          watching_pods = true;
        }
      }
    }
    const absl::Time due = absl::Now() + pass.next;
    absl::Time check = absl::Now() + absl::GetFlag(FLAGS_kube_poll_interval);
    while (!g_stop && absl::Now() < due) {
      // Short waits: a signal handler cannot wake the watcher.
      if (watcher.WaitForChange(std::min({due, check, absl::Now() + absl::Milliseconds(200)}))) {
        // A burst of events (a rollout's pods) runs one pass.
        const absl::Time not_before = std::max(absl::Now() + absl::Seconds(1),
                                               last_pass + absl::GetFlag(FLAGS_min_pass_interval));
        while (!g_stop && absl::Now() < not_before) absl::SleepFor(absl::Milliseconds(100));
        watcher.WaitForChange(absl::Now());  // those events are this pass's
        LogInfo("the workload, its pods or its schedule changed: running a pass now");
        break;
      }
      if (absl::Now() < check) continue;
      check = absl::Now() + absl::GetFlag(FLAGS_kube_poll_interval);
      if (watcher.AllWatching()) continue;
      absl::StatusOr<FetchedWorkload> w = FetchWorkload(*s.api, s.target);
      absl::StatusOr<std::string> secret = s.api->Get(SecretPath(s));
      std::string secret_version = "absent";
      if (secret.ok()) {
        nlohmann::json doc = nlohmann::json::parse(*secret, nullptr, false);
        secret_version = ResourceVersionOf(doc);
      }
      if ((w.ok() && w->workload.resource_version != pass.workload_version) ||
          ((secret.ok() || absl::IsNotFound(secret.status())) && secret_version != pass.secret_version)) {
        LogInfo("the workload or its schedule changed: running a pass now");
        break;
      }
    }
  }
  watcher.Stop();
  LogInfo("stopping");
  return kExitOk;
}

}  // namespace
}  // namespace drover::updater::kube

int main(int argc, char** argv) { return drover::updater::kube::Main(argc, argv); }
