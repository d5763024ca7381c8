#!/usr/bin/env bash
# deploy/images/build.sh from the binaries already built: its refusals; the
# coordinator's image built, pushed to a real registry (Debian's
# docker-registry on loopback) and its digest as the registry reports it; a
# rebuild giving the same digest; the image pulled back, unpacked (umoci) and
# its binary run in a chroot of the rootfs (the library closure is complete),
# as root and as 65532; its config; --set-kustomize on a copy of
# deploy/kubernetes; a cosign-format signature checked by drover-image-verify.
# Needs root (buildah); skipped (77) without it. Its buildah storage, registry
# and files live in one temporary directory, removed whatever happens.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=lib.sh
source "$ROOT/tests/e2e/lib.sh"
BUILD=${DROVER_BUILD_DIR:-$ROOT/build}
SCRIPT=$ROOT/deploy/images/build.sh

if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: images_test runs buildah, which needs root here"
  exit 77
fi
for tool in buildah skopeo umoci docker-registry curl openssl python3; do
  command -v "$tool" >/dev/null || fail "$tool not found: run deploy/install-deps.sh"
done
for b in drover-coordinator drover-image-verify; do
  [[ -x $BUILD/bin/$b ]] || fail "$BUILD/bin/$b is not built (cmake --build $BUILD --target $b)"
done

TMP=$(mktemp -d /tmp/drover-images-test.XXXXXX)
REGISTRY_PID=""
SCRIPT_PID=""
cleanup() {
  stop_pid "$SCRIPT_PID"
  stop_pid "$REGISTRY_PID"
  chmod -R u+w "$TMP" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
STORAGE=(--storage-root="$TMP/storage")
t_start=$SECONDS
step() { echo "[$((SECONDS - t_start))s] $*"; }

# run_script OUT ERR ARGS...: build.sh in the background, so that a TERM to
# this test stops it at once (cleanup); its temporary files go under $TMP.
run_script() {
  local out=$1 err=$2 rc=0
  shift 2
  TMPDIR=$TMP "$SCRIPT" "${STORAGE[@]}" "$@" >"$out" 2>"$err" &
  SCRIPT_PID=$!
  wait "$SCRIPT_PID" || rc=$?
  SCRIPT_PID=""
  return "$rc"
}

# refused CODE FRAGMENT ARGS...: build.sh exits CODE and says FRAGMENT.
refused() {
  local code=$1 fragment=$2 rc=0 out
  shift 2
  out=$("$SCRIPT" "${STORAGE[@]}" "$@" 2>&1) || rc=$?
  [[ $rc -eq $code ]] || fail "build.sh $* exited $rc, not $code: $out"
  grep -qF -- "$fragment" <<<"$out" || fail "build.sh $* did not say '$fragment': $out"
}

# 1. Refusals, before any image is built.
step "refusals"
mkdir -p "$TMP/nobin/bin"
cp "$BUILD/CMakeCache.txt" "$TMP/nobin/"
refused 2 "unknown option '--frobnicate'" --build-dir="$BUILD" --frobnicate
refused 2 "--push needs a value" --build-dir="$BUILD" --push
refused 2 "--push= needs a value" --build-dir="$BUILD" --push=
refused 2 "does not start with a registry host" --build-dir="$BUILD" --push=drover
refused 2 "--set-kustomize needs --push" --build-dir="$BUILD" --set-kustomize="$TMP/k8s"
refused 2 "--insecure-registry without --push" --build-dir="$BUILD" --insecure-registry
refused 2 "--image 'web' is not coordinator or kube-updater" --build-dir="$BUILD" --image=web
refused 2 "drover-coordinator is not built" --build-dir="$TMP/nobin" --image=coordinator
refused 2 "drover-kube-updater is not built" --build-dir="$TMP/nobin" --image=kube-updater
refused 2 "nothing to build" --build-dir="$TMP/nobin"
refused 2 "does not exist" --build-dir="$TMP/absent"
[[ ! -e $TMP/storage ]] || fail "a refused run left buildah storage behind"

# 2. A registry on loopback.
step "registry"
PORT=$(free_port)
cat >"$TMP/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $TMP/registry
http:
  addr: 127.0.0.1:$PORT
EOF
docker-registry serve "$TMP/registry.yml" >"$TMP/registry.log" 2>&1 &
REGISTRY_PID=$!
registry_up() {
  kill -0 "$REGISTRY_PID" 2>/dev/null || fail "docker-registry exited: $(tail -5 "$TMP/registry.log")"
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/v2/" 2>/dev/null
}
wait_for 30 "the registry on 127.0.0.1:$PORT" registry_up
REG=127.0.0.1:$PORT

# 3. Build, push, pin a copy of the kustomizations.
step "build and push"
cp -r "$ROOT/deploy/kubernetes" "$TMP/k8s"
before=$(cd "$ROOT" && sha256sum deploy/kubernetes/*/kustomization.yaml)
t0=$SECONDS
run_script "$TMP/built" "$TMP/built.err" --build-dir="$BUILD" --output="$TMP/out" --image=coordinator --tag=e2e \
  --push="$REG/drover" --insecure-registry --set-kustomize="$TMP/k8s" ||
  fail "build.sh failed: $(cat "$TMP/built.err")"
echo "built and pushed in $((SECONDS - t0))s:"
sed 's/^/  /' "$TMP/built" "$TMP/built.err"
line=$(grep '^name=drover-coordinator ' "$TMP/built") || fail "no line for drover-coordinator"
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<" $line"; }
DIGEST=$(field digest)
SIZE=$(field size)
[[ $DIGEST =~ ^sha256:[0-9a-f]{64}$ ]] || fail "no digest printed: $line"
[[ $SIZE =~ ^[0-9]+$ && $SIZE -gt 1000000 ]] || fail "size '$SIZE' printed is not plausible: $line"
[[ $(field pushed) == "$REG/drover/coordinator@$DIGEST" ]] || fail "pushed= is not $REG/drover/coordinator@$DIGEST: $line"
[[ -f $(field archive) ]] || fail "the archive $(field archive) is missing"

# 4. The digest as the registry reports it.
reported=$(curl -fsSI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://$REG/v2/drover/coordinator/manifests/e2e" | tr -d '\r' | sed -n 's/^docker-content-digest: //Ip')
[[ $reported == "$DIGEST" ]] || fail "the registry reports '$reported' for drover/coordinator:e2e, build.sh printed $DIGEST"

# 5. Reproducible: the same tree built again gives the same digest.
step "rebuild"
run_script "$TMP/rebuilt" "$TMP/rebuilt.err" --build-dir="$BUILD" --output="$TMP/out2" --image=coordinator --tag=e2e || fail "the rebuild failed: $(cat "$TMP/rebuilt.err")"
grep -qF "digest=$DIGEST " "$TMP/rebuilt" || fail "the rebuild gave another digest: $(cat "$TMP/rebuilt") (first: $DIGEST)"

# 6. Pulled back from the registry, unpacked, run from its own rootfs.
step "pull, unpack, run"
skopeo --policy <(echo '{"default":[{"type":"insecureAcceptAnything"}]}') copy --quiet --src-tls-verify=false \
  "docker://$REG/drover/coordinator@$DIGEST" "oci:$TMP/oci:e2e" || fail "skopeo could not pull the image back"
umoci unpack --image "$TMP/oci:e2e" "$TMP/bundle" >/dev/null 2>"$TMP/umoci.err" || fail "umoci unpack: $(cat "$TMP/umoci.err")"
ROOTFS=$TMP/bundle/rootfs
VERSION=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$BUILD/CMakeCache.txt")
out=$(chroot "$ROOTFS" /usr/bin/drover-coordinator --version 2>&1) || fail "the binary does not run in the image's rootfs: $out"
grep -qF "drover-coordinator $VERSION" <<<"$out" || fail "--version in the rootfs said: $out"
out=$(chroot --userspec=65532:65532 "$ROOTFS" /usr/bin/drover-coordinator --version 2>&1) ||
  fail "the binary does not run as 65532 in the image's rootfs: $out"
# Only the closure: every library in the image is one the binary loads.
LIBDIR=$ROOTFS/usr/lib/x86_64-linux-gnu
mapfile -t needed < <(chroot "$ROOTFS" /usr/lib64/ld-linux-x86-64.so.2 --list /usr/bin/drover-coordinator |
  awk '$2 == "=>" && $1 !~ /^\// { print $1 }' | while read -r so; do
    echo "$so"
    while [[ -L $LIBDIR/$so ]]; do so=$(basename "$(readlink "$LIBDIR/$so")"); echo "$so"; done
  done | sort -u)
mapfile -t shipped < <(find "$LIBDIR" -mindepth 1 -maxdepth 1 ! -name 'ld-linux*' -printf '%f\n' | sort -u)
[[ "${needed[*]}" == "${shipped[*]}" ]] || fail "libraries shipped (${shipped[*]}) are not those loaded (${needed[*]})"
grep -qx 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' "$ROOTFS/etc/passwd" || fail "no nonroot 65532 in /etc/passwd"
grep -qx 'nonroot:x:65532:' "$ROOTFS/etc/group" || fail "no nonroot 65532 in /etc/group"
cmp -s /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt" || fail "the CA bundle is not the host's"
writable=$(cd "$ROOTFS" && find . ! -type l \( -perm -o+w -o ! -user 0 \) | sort | tr '\n' ' ')
[[ $writable == ". ./home/nonroot ./tmp " || $writable == "./home/nonroot ./tmp " ]] ||
  fail "writable by others or not root's: $writable"

# 7. The image config, as the registry serves it.
step "config"
skopeo inspect --tls-verify=false --config "docker://$REG/drover/coordinator@$DIGEST" >"$TMP/config.json"
python3 - "$TMP/config.json" "$(git -C "$ROOT" rev-parse HEAD)" "$VERSION" <<'EOF' || fail "image config: see above"
import json, sys
c = json.load(open(sys.argv[1]))["config"]
want = {
    "User": "65532:65532",
    "Entrypoint": ["/usr/bin/drover-coordinator"],
}
problems = [f"{k} is {c.get(k)!r}, not {v!r}" for k, v in want.items() if c.get(k) != v]
labels = c.get("Labels") or {}
for k, v in {"org.opencontainers.image.revision": sys.argv[2], "org.opencontainers.image.version": sys.argv[3],
             "org.opencontainers.image.title": "drover-coordinator"}.items():
    if labels.get(k) != v:
        problems.append(f"label {k} is {labels.get(k)!r}, not {v!r}")
for p in ("7600/tcp", "7601/tcp", "7602/tcp"):
    if p not in (c.get("ExposedPorts") or {}):
        problems.append(f"port {p} not exposed")
for p in problems:
    print("config:", p, file=sys.stderr)
sys.exit(1 if problems else 0)
EOF

# 8. --set-kustomize rewrote the copy, and only the coordinator's entry.
step "kustomize"
k=$TMP/k8s/coordinator/kustomization.yaml
grep -qx "    digest: $DIGEST" "$k" || fail "$k does not pin $DIGEST: $(cat "$k")"
grep -qx "    newName: $REG/drover/coordinator" "$k" || fail "$k has no newName for the pushed repository: $(cat "$k")"
grep -qx '  - name: registry.example.com/drover/coordinator' "$k" || fail "$k lost the name the Deployment uses"
[[ $(grep -c 'digest:' "$k") -eq 1 ]] || fail "$k has more than one digest: line"
cmp -s "$ROOT/deploy/kubernetes/updater/kustomization.yaml" "$TMP/k8s/updater/kustomization.yaml" ||
  fail "--set-kustomize changed the updater's kustomization for the coordinator's image"
[[ $(cd "$ROOT" && sha256sum deploy/kubernetes/*/kustomization.yaml) == "$before" ]] ||
  fail "the committed kustomizations changed"

# 9. Signed in cosign's format (a simple-signing payload as a layer, its
# signature in an annotation, tag sha256-<hex>.sig), checked by the verifier.
step "sign and verify"
openssl ecparam -name prime256v1 -genkey -noout -out "$TMP/cosign.key" 2>/dev/null
openssl ec -in "$TMP/cosign.key" -pubout -out "$TMP/cosign.pub" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$TMP/other.key" 2>/dev/null
openssl ec -in "$TMP/other.key" -pubout -out "$TMP/other.pub" 2>/dev/null
printf '{"critical":{"identity":{"docker-reference":"%s"},"image":{"docker-manifest-digest":"%s"},"type":"cosign container image signature"},"optional":null}' \
  "$REG/drover/coordinator" "$DIGEST" >"$TMP/payload.json"
openssl dgst -sha256 -sign "$TMP/cosign.key" -out "$TMP/payload.sig" "$TMP/payload.json"
push_blob() {  # FILE -> its digest, uploaded to drover/coordinator
  local d location
  d=sha256:$(sha256sum "$1" | cut -d' ' -f1)
  location=$(curl -fsS -X POST -D - -o /dev/null "http://$REG/v2/drover/coordinator/blobs/uploads/" |
    tr -d '\r' | sed -n 's/^location: //Ip')
  [[ $location == http* ]] || location=http://$REG$location
  [[ $location == *\?* ]] && location+="&digest=$d" || location+="?digest=$d"
  curl -fsS -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$1" "$location" >/dev/null ||
    fail "uploading $1 failed"
  echo "$d"
}
payload_digest=$(push_blob "$TMP/payload.json")
printf '{"architecture":"","os":"","rootfs":{"type":"layers","diff_ids":["%s"]}}' "$payload_digest" >"$TMP/sigconfig.json"
config_digest=$(push_blob "$TMP/sigconfig.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":"%s","size":%d,"annotations":{"dev.cosignproject.cosign/signature":"%s"}}]}' \
  "$config_digest" "$(stat -c %s "$TMP/sigconfig.json")" "$payload_digest" "$(stat -c %s "$TMP/payload.json")" \
  "$(base64 -w0 "$TMP/payload.sig")" >"$TMP/sigmanifest.json"
curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary "@$TMP/sigmanifest.json" \
  "http://$REG/v2/drover/coordinator/manifests/sha256-${DIGEST#sha256:}.sig" >/dev/null || fail "pushing the signature failed"
out=$("$BUILD/bin/drover-image-verify" --image="$REG/drover/coordinator:e2e" --public_key="$TMP/cosign.pub" --plain_http 2>&1) ||
  fail "drover-image-verify refused the signed image: $out"
grep -qxF "$REG/drover/coordinator@$DIGEST" <<<"$out" || fail "drover-image-verify printed '$out', not $REG/drover/coordinator@$DIGEST"
rc=0
out=$("$BUILD/bin/drover-image-verify" --image="$REG/drover/coordinator:e2e" --public_key="$TMP/other.pub" --plain_http 2>&1) || rc=$?
[[ $rc -eq 1 ]] || fail "drover-image-verify with another key exited $rc, not 1: $out"

# 10. The Kubernetes updater's image: built, pushed, pinned in the updater's
# kustomization (a copy), and runnable from its own rootfs.
step "kube-updater image"
cp -r "$ROOT/deploy/kubernetes" "$TMP/k8s2"
run_script "$TMP/kbuilt" "$TMP/kbuilt.err" --build-dir="$BUILD" --output="$TMP/out3" --image=kube-updater --tag=e2e \
  --push="$REG/drover" --insecure-registry --set-kustomize="$TMP/k8s2" ||
  fail "build.sh --image=kube-updater failed: $(cat "$TMP/kbuilt.err")"
line=$(grep '^name=drover-kube-updater ' "$TMP/kbuilt") || fail "no line for drover-kube-updater: $(cat "$TMP/kbuilt")"
KDIGEST=$(field digest)
[[ $KDIGEST =~ ^sha256:[0-9a-f]{64}$ ]] || fail "no kube-updater digest printed: $line"
reported=$(curl -fsSI -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://$REG/v2/drover/kube-updater/manifests/e2e" | tr -d '\r' | sed -n 's/^docker-content-digest: //Ip')
[[ $reported == "$KDIGEST" ]] || fail "the registry reports '$reported' for drover/kube-updater:e2e, build.sh printed $KDIGEST"
grep -qx "    digest: $KDIGEST" "$TMP/k8s2/updater/kustomization.yaml" ||
  fail "the updater's kustomization does not pin $KDIGEST: $(cat "$TMP/k8s2/updater/kustomization.yaml")"
skopeo --policy <(echo '{"default":[{"type":"insecureAcceptAnything"}]}') copy --quiet --src-tls-verify=false \
  "docker://$REG/drover/kube-updater@$KDIGEST" "oci:$TMP/koci:e2e" || fail "skopeo could not pull the kube-updater back"
umoci unpack --image "$TMP/koci:e2e" "$TMP/kbundle" >/dev/null 2>"$TMP/umoci.err" || fail "umoci unpack: $(cat "$TMP/umoci.err")"
out=$(chroot --userspec=65532:65532 "$TMP/kbundle/rootfs" /usr/bin/drover-kube-updater --version 2>&1) ||
  fail "drover-kube-updater does not run in its image's rootfs: $out"
grep -q "drover-kube-updater" <<<"$out" || fail "--version in the kube-updater rootfs said: $out"

step "PASS: images_test ($(python3 -c "print(f'{$SIZE / 1048576:.1f}')") MiB, $DIGEST)"
