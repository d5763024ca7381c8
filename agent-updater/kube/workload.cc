#include "agent-updater/kube/workload.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/api_limits.h"
#include "nlohmann/json.hpp"

namespace drover::updater::kube {
namespace {

using nlohmann::json;

absl::StatusOr<json> ParseObject(absl::string_view text, absl::string_view what) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("the Kubernetes API answered something that is not a JSON ",
                                                   what, ": \"", text.substr(0, 120), "\""));
  }
  return doc;
}

// The value at `path` (object keys) or nullptr when any step is missing.
const json* At(const json& doc, std::initializer_list<const char*> path) {
  const json* cur = &doc;
  for (const char* key : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(key);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

int64_t IntAt(const json& doc, std::initializer_list<const char*> path, int64_t fallback = 0) {
  const json* v = At(doc, path);
  return v && v->is_number_integer() ? v->get<int64_t>() : fallback;
}

std::string StringAt(const json& doc, std::initializer_list<const char*> path) {
  const json* v = At(doc, path);
  return v && v->is_string() ? v->get<std::string>() : "";
}

std::map<std::string, std::string> StringMapAt(const json& doc, std::initializer_list<const char*> path) {
  std::map<std::string, std::string> out;
  const json* v = At(doc, path);
  if (!v || !v->is_object()) return out;
  for (auto it = v->begin(); it != v->end(); ++it) {
    if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

bool IsHostIdChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == ':' ||
         c == '@';
}

}  // namespace

std::string WorkloadRef::ApiPath() const {
  return absl::StrCat("/apis/apps/v1/namespaces/", namespace_name, "/", kind, "s/", name);
}

std::string WorkloadRef::KindName() const { return kind == "deployment" ? "Deployment" : "StatefulSet"; }

absl::StatusOr<WorkloadRef> ParseWorkloadRef(absl::string_view text, absl::string_view namespace_name) {
  const size_t slash = text.find('/');
  if (slash == absl::string_view::npos || slash == 0 || slash + 1 == text.size() ||
      text.find('/', slash + 1) != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--workload=\"", text, "\": want KIND/NAME, e.g. deployment/teleport-agent"));
  }
  std::string kind = absl::AsciiStrToLower(text.substr(0, slash));
  if (kind == "deployments" || kind == "deploy") kind = "deployment";
  if (kind == "statefulsets" || kind == "sts") kind = "statefulset";
  if (kind != "deployment" && kind != "statefulset") {
    return absl::InvalidArgumentError(
        absl::StrCat("--workload=\"", text, "\": kind \"", text.substr(0, slash), "\" is not deployment or statefulset"));
  }
  if (namespace_name.empty()) {
    return absl::InvalidArgumentError("no namespace: pass --namespace (the downward API's metadata.namespace)");
  }
  return WorkloadRef{kind, std::string(text.substr(slash + 1)), std::string(namespace_name)};
}

absl::StatusOr<Workload> ParseWorkload(absl::string_view json_text) {
  absl::StatusOr<json> doc = ParseObject(json_text, "workload");
  if (!doc.ok()) return doc.status();
  Workload w;
  w.resource_version = StringAt(*doc, {"metadata", "resourceVersion"});
  w.generation = IntAt(*doc, {"metadata", "generation"});
  w.annotations = StringMapAt(*doc, {"metadata", "annotations"});
  w.spec_replicas = IntAt(*doc, {"spec", "replicas"}, 1);
  w.match_labels = StringMapAt(*doc, {"spec", "selector", "matchLabels"});
  w.observed_generation = IntAt(*doc, {"status", "observedGeneration"});
  w.replicas = IntAt(*doc, {"status", "replicas"});
  w.updated_replicas = IntAt(*doc, {"status", "updatedReplicas"});
  w.ready_replicas = IntAt(*doc, {"status", "readyReplicas"});
  w.available_replicas = IntAt(*doc, {"status", "availableReplicas"});
  const json* containers = At(*doc, {"spec", "template", "spec", "containers"});
  if (!containers || !containers->is_array() || containers->empty()) {
    return absl::InvalidArgumentError("the workload has no spec.template.spec.containers");
  }
  for (const json& c : *containers) {
    w.containers.push_back({StringAt(c, {"name"}), StringAt(c, {"image"})});
  }
  return w;
}

absl::StatusOr<std::vector<Pod>> ParsePodList(absl::string_view json_text) {
  absl::StatusOr<json> doc = ParseObject(json_text, "pod list");
  if (!doc.ok()) return doc.status();
  std::vector<Pod> pods;
  const json* items = At(*doc, {"items"});
  if (!items || items->is_null()) return pods;
  if (!items->is_array()) return absl::InvalidArgumentError("pod list: \"items\" is not an array");
  for (const json& item : *items) {
    Pod p;
    p.name = StringAt(item, {"metadata", "name"});
    p.uid = StringAt(item, {"metadata", "uid"});
    p.terminating = At(item, {"metadata", "deletionTimestamp"}) != nullptr &&
                    !At(item, {"metadata", "deletionTimestamp"})->is_null();
    if (const json* cs = At(item, {"spec", "containers"}); cs && cs->is_array()) {
      for (const json& c : *cs) p.images[StringAt(c, {"name"})] = StringAt(c, {"image"});
    }
    if (const json* conds = At(item, {"status", "conditions"}); conds && conds->is_array()) {
      for (const json& c : *conds) {
        if (StringAt(c, {"type"}) == "Ready") p.ready = StringAt(c, {"status"}) == "True";
      }
    }
    if (const json* cs = At(item, {"status", "containerStatuses"}); cs && cs->is_array()) {
      for (const json& c : *cs) {
        p.restarts = std::max(p.restarts, IntAt(c, {"restartCount"}));
        if (StringAt(c, {"state", "waiting", "reason"}) == "CrashLoopBackOff") p.crash_looping = true;
      }
    }
    pods.push_back(std::move(p));
  }
  return pods;
}

absl::StatusOr<std::string> LabelSelector(const std::map<std::string, std::string>& match_labels) {
  if (match_labels.empty()) {
    return absl::InvalidArgumentError(
        "the workload's spec.selector has no matchLabels: its pods cannot be told apart (matchExpressions are "
        "not supported)");
  }
  return absl::StrJoin(match_labels, ",", absl::PairFormatter("="));
}

absl::StatusOr<size_t> AgentContainer(const Workload& workload, absl::string_view workload_name,
                                      absl::string_view wanted) {
  std::vector<std::string> names;
  for (const Container& c : workload.containers) names.push_back(c.name);
  const absl::string_view name = !wanted.empty() ? wanted : workload_name;
  for (size_t i = 0; i < workload.containers.size(); ++i) {
    if (workload.containers[i].name == name) return i;
  }
  if (wanted.empty() && workload.containers.size() == 1) return 0;
  return absl::InvalidArgumentError(absl::StrCat(
      wanted.empty() ? "the workload has several containers and none is named like it"
                     : absl::StrCat("the workload has no container \"", wanted, "\""),
      " (containers: ", absl::StrJoin(names, ", "), "): pass --container=NAME"));
}

absl::Status RolloutHealth(const Workload& w, const std::vector<Pod>& pods, size_t container, int64_t max_restarts) {
  const Container& agent = w.containers.at(container);
  for (const Pod& p : pods) {
    auto it = p.images.find(agent.name);
    if (p.terminating || it == p.images.end() || it->second != agent.image) continue;
    if (!p.ready && p.restarts > max_restarts) {
      return absl::AbortedError(absl::StrCat("pod ", p.name, " (", agent.image, ") is not ready after ", p.restarts,
                                             " restarts (more than ", max_restarts, ")",
                                             p.crash_looping ? ": CrashLoopBackOff" : ""));
    }
  }
  if (w.observed_generation < w.generation) {
    return absl::UnavailableError(absl::StrCat("the controller has not seen generation ", w.generation,
                                               " yet (observed ", w.observed_generation, ")"));
  }
  if (w.updated_replicas < w.spec_replicas || w.ready_replicas < w.spec_replicas ||
      w.available_replicas < w.spec_replicas || w.replicas > w.spec_replicas) {
    return absl::UnavailableError(absl::StrCat("replicas: ", w.updated_replicas, " updated, ", w.ready_replicas,
                                               " ready, ", w.available_replicas, " available, ", w.replicas,
                                               " in all, of ", w.spec_replicas, " wanted"));
  }
  for (const Pod& p : pods) {
    if (p.terminating) continue;
    if (!p.ready) {
      return absl::UnavailableError(absl::StrCat("pod ", p.name, " is not ready",
                                                 p.crash_looping ? " (CrashLoopBackOff)" : "",
                                                 p.restarts > 0 ? absl::StrCat(", ", p.restarts, " restarts") : ""));
    }
  }
  return absl::OkStatus();
}

UpdateModeChoice ChooseUpdateMode(const std::map<std::string, std::string>& annotations, bool report_only_flag) {
  UpdateModeChoice c;
  auto it = annotations.find(kUpdateModeAnnotation);
  if (it != annotations.end()) {
    const std::string source = absl::StrCat("annotation ", kUpdateModeAnnotation, "=", it->second);
    if (it->second == "disabled") return {UpdateMode::kDisabled, source, ""};
    if (it->second == "report-only") return {UpdateMode::kReportOnly, source, ""};
    if (it->second != "enabled" && !it->second.empty()) {
      // A typo must not turn updates on behind a GitOps tool's back.
      return {UpdateMode::kReportOnly, source,
              absl::StrCat(source, " is not report-only, disabled or enabled: taken as report-only")};
    }
  }
  if (report_only_flag) return {UpdateMode::kReportOnly, "--report_only", ""};
  return c;
}

absl::StatusOr<std::string> KubeHostId(absl::string_view cluster, const WorkloadRef& workload) {
  const std::string id = absl::StrCat(cluster, ":", workload.namespace_name, ":", workload.kind, ".", workload.name);
  for (char c : id) {
    if (!IsHostIdChar(c)) {
      return absl::InvalidArgumentError(absl::StrCat("host id \"", id, "\": '", std::string(1, c),
                                                     "' is not allowed (letters, digits and \"-._:@\" only); "
                                                     "check --cluster"));
    }
  }
  if (cluster.empty()) return absl::InvalidArgumentError("--cluster is empty");
  if (id.size() > kMaxHostIdLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("host id \"", id, "\" is longer than ", kMaxHostIdLength, " characters: shorten --cluster"));
  }
  return id;
}

}  // namespace drover::updater::kube

namespace drover::updater::kube {

absl::StatusOr<WatchEvent> ParseWatchEvent(absl::string_view line) {
  absl::StatusOr<json> doc = ParseObject(line, "watch event");
  if (!doc.ok()) return doc.status();
  WatchEvent e;
  e.type = StringAt(*doc, {"type"});
  if (e.type != "ADDED" && e.type != "MODIFIED" && e.type != "DELETED" && e.type != "BOOKMARK" && e.type != "ERROR") {
    return absl::InvalidArgumentError(
        absl::StrCat("a watch event of type \"", e.type, "\": \"", line.substr(0, 120), "\""));
  }
  const json* object = At(*doc, {"object"});
  if (object == nullptr || !object->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("a watch event without an object: \"", line.substr(0, 120), "\""));
  }
  if (e.type == "ERROR") {
    e.code = IntAt(*object, {"code"});
    e.message = StringAt(*object, {"message"});
  } else {
    e.resource_version = StringAt(*object, {"metadata", "resourceVersion"});
  }
  return e;
}

absl::StatusOr<std::string> ListResourceVersion(absl::string_view json_text) {
  absl::StatusOr<json> doc = ParseObject(json_text, "list");
  if (!doc.ok()) return doc.status();
  std::string rv = StringAt(*doc, {"metadata", "resourceVersion"});
  if (rv.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("a list without metadata.resourceVersion: \"", json_text.substr(0, 120), "\""));
  }
  return rv;
}

std::string QueryEscape(absl::string_view value) {
  std::string out;
  for (unsigned char ch : value) {
    if (absl::ascii_isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      absl::StrAppend(&out, "%", absl::Hex(ch, absl::kZeroPad2));
    }
  }
  return out;
}

std::vector<Pod> PodsToForceRollBack(const std::vector<Pod>& pods, absl::string_view container,
                                     absl::string_view image) {
  std::vector<Pod> out;
  for (const Pod& p : pods) {
    auto it = p.images.find(std::string(container));
    if (it == p.images.end() || it->second == image || p.ready || p.terminating) continue;
    out.push_back(p);
  }
  return out;
}

std::string DeletePodOptions(const Pod& pod) {
  nlohmann::json body = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (!pod.uid.empty()) body["preconditions"] = {{"uid", pod.uid}};
  return body.dump();
}

}  // namespace drover::updater::kube
