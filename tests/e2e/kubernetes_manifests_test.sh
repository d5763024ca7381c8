#!/usr/bin/env bash
# deploy/kubernetes: every object passes the Kubernetes OpenAPI schemas with
# strict field names, the pod hardening and least-privilege RBAC rules, and
# each kustomization lists its manifests and pins its images by digest
# (tests/e2e/k8s_validate.mjs). With kubectl at hand the kustomizations are
# rendered and the output validated too. Then the checks are shown to bite:
# deliberately broken copies of the manifests must be refused, naming the
# field. The validator's npm packages (pinned by tests/e2e/k8s-validate/
# package-lock.json) are installed under the build directory, never in git.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/e2e/lib.sh"
MANIFESTS="$ROOT/deploy/kubernetes"
PKG="$ROOT/tests/e2e/k8s-validate"
VALIDATOR="$ROOT/tests/e2e/k8s_validate.mjs"
CACHE=${DROVER_K8S_VALIDATE_CACHE:-$ROOT/build/k8s-validate}
TMP=$(mktemp -d /tmp/drover-k8s.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

command -v node >/dev/null && command -v npm >/dev/null ||
  fail "node and npm not found: install Node.js 20 or later with npm (the validator runs on it)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[[ $node_major -ge 20 ]] || fail "node $(node --version) is too old: the validator needs Node.js 20 or later"

# install_validator DIR: the pinned packages into DIR, once per lock file.
# Returns 1 with the reason on stderr (the npm registry unreachable, say).
install_validator() {
  local dir=$1 want out
  [[ -n "$dir" && "$dir" != / ]] || { echo "install_validator: no directory given" >&2; return 1; }
  want=$(cat "$PKG/package.json" "$PKG/package-lock.json" | sha256sum | cut -d' ' -f1)
  [[ -f "$dir/.installed" && $(cat "$dir/.installed") == "$want" ]] && return 0
  rm -rf "$dir" && mkdir -p "$dir"
  cp "$PKG/package.json" "$PKG/package-lock.json" "$dir/"
  if ! out=$(cd "$dir" && npm_config_fetch_retries=${npm_config_fetch_retries:-2} \
               timeout 300 npm ci --no-audit --no-fund --prefer-offline --fetch-timeout=30000 2>&1); then
    echo "cannot install the validator's npm packages (tests/e2e/k8s-validate/package-lock.json) into $dir:" \
         "is the npm registry ($(npm config get registry)) reachable? npm said:" >&2
    { grep -E '^npm (error|ERR!) (code|errno|network|request to|notarget|404)' <<<"$out" || tail -n 5 <<<"$out"; } |
      head -n 5 >&2
    return 1
  fi
  echo "$want" >"$dir/.installed"
}
validate() { node "$VALIDATOR" --modules "$CACHE/node_modules" "$@"; }

# 0. An unreachable registry gives that clear message, not a hang or a trace.
if out=$(npm_config_registry=http://127.0.0.1:9/ npm_config_cache="$TMP/npm-cache" npm_config_fetch_retries=0 \
         install_validator "$TMP/offline" 2>&1); then
  fail "installing from an unreachable registry succeeded?"
fi
grep -q "is the npm registry (http://127.0.0.1:9/) reachable" <<<"$out" ||
  fail "an unreachable registry is not named in the message: $out"

# 1. The real manifests, file by file (every *.yaml, Secret templates too).
install_validator "$CACHE" || fail "see above"
out=$(validate "$MANIFESTS" 2>&1) || fail "deploy/kubernetes refused: $out"
echo "$out"

# 2. The kustomizations rendered, as `kubectl apply -k` would send them.
if command -v kubectl >/dev/null; then
  rendered=()
  for k in "$MANIFESTS"/*/kustomization.yaml; do
    name=$(basename "$(dirname "$k")")
    kubectl kustomize "$(dirname "$k")" >"$TMP/$name.yaml" 2>"$TMP/$name.err" ||
      fail "kubectl kustomize $name: $(cat "$TMP/$name.err")"
    rendered+=(--rendered "$name=$TMP/$name.yaml")
  done
  out=$(validate "${rendered[@]}" 2>&1) || fail "rendered kustomizations refused: $out"
  echo "$out"
  grep -q 'image: registry.example.com/drover/coordinator@sha256:0\{64\}$' "$TMP/coordinator.yaml" ||
    fail "the rendered coordinator does not carry the digest of kustomization.yaml's images: entry"
else
  echo "NOTE: kubectl not found: kustomizations not rendered (their listing and images: were checked above)"
fi

# 3. The image digest lives in ONE place per image: the kustomization.
others=$(grep -rl --include='*.yaml' 'sha256:' "$MANIFESTS" | grep -v '/kustomization\.yaml$' || true)
[[ -z "$others" ]] || fail "image digests outside kustomization.yaml: $others"

# 4. The checks bite. refused NAME FILE PERL-SUBSTITUTION FRAGMENT: a copy of
# deploy/kubernetes with FILE changed (first match only) must be refused
# with FRAGMENT in the message.
cases=0
refused() {
  local name=$1 file=$2 subst=$3 fragment=$4 out
  local dir="$TMP/case-$name"
  [[ ! -e "$dir" ]] || fail "case $name twice"
  cp -r "$MANIFESTS" "$dir"
  perl -0pi -e "$subst" "$dir/$file"
  ! cmp -s "$MANIFESTS/$file" "$dir/$file" || fail "case $name: '$subst' changed nothing in $file"
  if out=$(validate "$dir" 2>&1); then fail "case $name: accepted: $out"; fi
  grep -qF -- "$fragment" <<<"$out" || fail "case $name: refused, but without \"$fragment\": $out"
  cases=$((cases + 1))
}
refused replicas-string coordinator/deployment.yaml 's/replicas: 2/replicas: "two"/' \
  'Deployment/drover-coordinator: /spec/replicas must be integer'
refused misspelled-field coordinator/deployment.yaml 's/imagePullPolicy:/imagePullPolycy:/' \
  'unknown field "spec.template.spec.containers[0].imagePullPolycy"'
refused misspelled-kind coordinator/deployment.yaml 's/^kind: Deployment$/kind: Deploymnet/m' \
  'no Kubernetes schema for apiVersion apps/v1 kind Deploymnet'
refused port-string coordinator/service.yaml 's/port: 7600/port: grpc/' '/spec/ports/0/port must be integer'
refused duplicate-key coordinator/service.yaml 's/  type: ClusterIP\n/  type: ClusterIP\n  type: NodePort\n/' \
  'Map keys must be unique'
refused writable-root coordinator/deployment.yaml 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' \
  'readOnlyRootFilesystem must be true'
refused capabilities coordinator/deployment.yaml 's/drop: \["ALL"\]/drop: ["NET_RAW"]/' \
  'capabilities.drop must include ALL'
refused world-readable-keys coordinator/deployment.yaml 's/defaultMode: 288/defaultMode: 420/' \
  'secret defaultMode 0644 lets others read the keys'
refused no-pdb coordinator/poddisruptionbudget.yaml 's/(matchLabels:\n +app.kubernetes.io\/name: drover-coordinator)/$1-typo/' \
  '2 replicas but no PodDisruptionBudget selects its pods'
refused secret-typo coordinator/deployment.yaml 's/secretName: drover-coordinator-tls/secretName: drover-coordinator-tsl/' \
  'Secret drover-coordinator-tsl is defined nowhere here'
refused probe-port coordinator/deployment.yaml 's/port: metrics/port: metric/' \
  'livenessProbe names port "metric"'
refused unlisted coordinator/kustomization.yaml 's/  - service.yaml\n//' \
  'service.yaml is not listed in resources'
refused tag-not-digest coordinator/kustomization.yaml 's/digest: sha256:0+/newTag: latest/' \
  'images: registry.example.com/drover/coordinator needs digest'
refused star-verb updater/role.yaml 's/verbs: \["list", "watch"\]/verbs: ["list", "*"]/' \
  'rules[1]: verbs contains "*"'
refused star-resource updater/role.yaml 's/resources: \["pods"\]/resources: ["*"]/' \
  'rules[1]: resources contains "*"'
refused unnamed-secret updater/role.yaml 's/    resourceNames: \["teleport-agent-shared-state"\]\n//' \
  'secrets without resourceNames'
refused unnamed-workload updater/role.yaml 's/    resourceNames: \["teleport-agent"\]\n//' \
  'deployments without resourceNames'
refused cluster-role updater/role.yaml 's/^kind: Role$/kind: ClusterRole/m' \
  'cluster-scoped RBAC (ClusterRole) is not allowed'
refused delete-workload updater/role.yaml 's/verbs: \["get", "list", "watch", "patch"\]/verbs: ["get", "patch", "delete"]/' \
  'rules[0]: delete is allowed on pods only'
refused secret-patch updater/role.yaml 's/verbs: \["get", "list", "watch"\]/verbs: ["get", "patch"]/' \
  'rules[3]: secrets: get, list and watch only'
refused escalate-verb updater/role.yaml 's/verbs: \["list", "watch"\]/verbs: ["list", "escalate"]/' \
  'verb "escalate" is more than the updater needs'
refused delete-any-pod updater/role.yaml 's/    resourceNames: \["teleport-agent-0", "teleport-agent-1", "teleport-agent-2"\]\n//' \
  'rules[2]: delete on pods without resourceNames'
refused configmap-key updater/deployment.yaml 's/key: channel/key: chanel/' \
  'reads key "chanel", which drover-kube-updater does not have'
if command -v kubectl >/dev/null; then
  # What apply -k would send, with the digest replaced by a tag.
  cp -r "$MANIFESTS" "$TMP/case-render"
  perl -0pi -e 's/digest: sha256:0+/newTag: "1.0"/' "$TMP/case-render/coordinator/kustomization.yaml"
  kubectl kustomize "$TMP/case-render/coordinator" >"$TMP/render-tag.yaml"
  if out=$(validate --rendered "tagged=$TMP/render-tag.yaml" 2>&1); then fail "case render-tag: accepted: $out"; fi
  grep -qF 'image "registry.example.com/drover/coordinator:1.0" is not pinned by digest' <<<"$out" ||
    fail "case render-tag: refused, but not for the tag: $out"
  cases=$((cases + 1))
fi
# Every flag a Deployment passes is one its binary has (both refuse unknown
# flags at start), when the binaries are built.
BIN_DIR=${DROVER_BIN_DIR:-$ROOT/build/bin}
for pair in coordinator/deployment.yaml:drover-coordinator updater/deployment.yaml:drover-kube-updater; do
  manifest=${pair%%:*} binary=$BIN_DIR/${pair#*:}
  if [[ ! -x "$binary" ]]; then
    echo "NOTE: $binary not built; the flags of $manifest were not checked against it"
    continue
  fi
  known=$("$binary" --helpfull 2>&1 || true)
  flags=$(grep -oE '^ +- --[a-z_]+' "$MANIFESTS/$manifest" | sed 's/^ *- //')
  [[ -n "$flags" ]] || fail "no --flags found in $manifest's args"
  for f in $flags; do
    grep -qE -- "^ +$f " <<<"$known" || fail "$manifest passes $f, which ${pair#*:} does not have"
  done
  echo "kubernetes_manifests_test: $manifest: its $(wc -w <<<"$flags") flags exist in ${pair#*:}"
done
echo "kubernetes_manifests_test: manifests valid; $cases broken copies refused, each naming its field"
