#!/usr/bin/env bash
# Builds Drover's OCI images with buildah, from scratch: no base image, no
# Docker engine. Prints one line per image on stdout:
#   name=drover-coordinator digest=sha256:... size=BYTES archive=FILE [pushed=REF@sha256:...]
#
#   deploy/images/build.sh [--build-dir=DIR] [--output=DIR] [--image=NAME]... [--tag=TAG]
#       [--push=REGISTRY[/PREFIX] [--insecure-registry]] [--set-kustomize[=DIR]] [--storage-root=DIR]
#
# --build-dir: the CMake build tree whose bin/ holds the binaries (default
#   $DROVER_BUILD_DIR or ./build); nothing is compiled here.
# --output: where the oci-archive files go (default BUILD_DIR/images).
# --image: coordinator or kube-updater (repeatable; default: both, skipping
#   drover-kube-updater with a note while it is not built; named, it must be).
# --tag: default VERSION-gREV (project version, short commit).
# --push: skopeo copy each image to REGISTRY[/PREFIX]/{coordinator,kube-updater}:TAG
#   (the names the kustomizations use); TLS is verified unless --insecure-registry.
# --set-kustomize: write the digest the registry reports for each pushed image
#   into the images: entry of DIR/*/kustomization.yaml (default deploy/kubernetes),
#   with newName when the pushed repository is not the entry's name. Needs --push.
# --storage-root: buildah storage to use and keep (default: a private one under
#   a temporary directory, removed at exit; global storage is never touched).
#
# Needs root (buildah with the vfs driver and chroot isolation), buildah, skopeo,
# python3 (deploy/install-deps.sh installs them).
#
# What an image holds: the binary (stripped, as the packages do) in /usr/bin;
# its ldd closure (every shared library and the dynamic loader, with the
# merged-/usr symlinks they are reached through) copied from this host;
# /etc/passwd and /etc/group with root and nonroot (65532, the uid the
# Deployments run as); /etc/nsswitch.conf; the host's CA bundle; /tmp (1777)
# and /home/nonroot (0700, 65532); everything else root-owned and not writable
# by others. Each library's Debian package gets its dpkg status stanza in
# /var/lib/dpkg/status.d/ (so image scanners see the versions) and its
# copyright file in /usr/share/doc/ (the licences ask for it).
# Why the ldd closure rather than unpacking the .debs of the runtime libraries
# (dpkg-deb -x): it is exactly what the binary loads (the .debs would bring
# their other files and a dependency walk to write), the libraries are the very
# ones the binary was built and tested against, and it needs no download. The
# catch: this host must be Debian 12 like the build, and libraries loaded with
# dlopen (none today: glibc 2.36 has NSS files/dns built in; OpenSSL's default
# provider is built in) would not be seen by ldd.
# Reproducible: the creation time and every file's mtime are the commit time
# (SOURCE_DATE_EPOCH when set), layers are gzip-compressed at commit and pushed
# as they are (skopeo --preserve-digests), so the archive's digest is the
# registry's and the same commit and build give the same digest.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${DROVER_BUILD_DIR:-$SRC/build}
OUT=""
TAG=""
PUSH=""
INSECURE=0
KUSTOMIZE_DIR=""
STORAGE=""
IMAGES=()
NONROOT_UID=65532

die() { echo "images: $*" >&2; exit 2; }
fail() { echo "images: $*" >&2; exit 1; }
note() { echo "images: $*" >&2; }

# --opt=VALUE and --opt VALUE both work.
while [[ $# -gt 0 ]]; do
  arg=$1
  shift
  value=""
  case "$arg" in
    --build-dir|--output|--image|--tag|--push|--storage-root)
      [[ $# -gt 0 && $1 != --* ]] || die "$arg needs a value (see --help)"
      value=$1
      shift ;;
    --*=*)
      value=${arg#*=}
      arg=${arg%%=*}
      case "$arg" in
        --build-dir|--output|--image|--tag|--push|--storage-root) [[ -n $value ]] || die "$arg= needs a value (see --help)" ;;
      esac ;;
  esac
  case "$arg" in
    --build-dir) BUILD=$(realpath -m "$value") ;;
    --output) OUT=$(realpath -m "$value") ;;
    --image) IMAGES+=("$value") ;;
    --tag) TAG=$value ;;
    --push) PUSH=$value ;;
    --insecure-registry) [[ -z $value ]] || die "--insecure-registry takes no value"; INSECURE=1 ;;
    --set-kustomize) KUSTOMIZE_DIR=${value:-$SRC/deploy/kubernetes} ;;
    --storage-root) STORAGE=$(realpath -m "$value") ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$arg' (see --help)" ;;
  esac
done

# --- Checks before any work ---------------------------------------------------
if [[ -n $PUSH ]]; then
  # The first component must be a registry host, or skopeo would take it as a
  # Docker Hub namespace.
  host=${PUSH%%/*}
  [[ $host == *.* || $host == *:* || $host == localhost ]] ||
    die "--push '$PUSH' does not start with a registry host (e.g. registry.example.com/drover or 127.0.0.1:5000/drover)"
  [[ $PUSH != */ && $PUSH != *//* && $PUSH =~ ^[a-zA-Z0-9._:/-]+$ ]] || die "--push '$PUSH' is not REGISTRY[/PREFIX]"
fi
[[ $INSECURE -eq 0 || -n $PUSH ]] || die "--insecure-registry without --push: there is no registry to talk to"
[[ -z $KUSTOMIZE_DIR || -n $PUSH ]] ||
  die "--set-kustomize needs --push REGISTRY[/PREFIX]: the digest written must be the one a registry reports"
if [[ -n $KUSTOMIZE_DIR ]]; then
  KUSTOMIZE_DIR=$(realpath -m "$KUSTOMIZE_DIR")
  compgen -G "$KUSTOMIZE_DIR/*/kustomization.yaml" >/dev/null || die "--set-kustomize: no */kustomization.yaml under $KUSTOMIZE_DIR"
fi
[[ -z $TAG || $TAG =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "--tag '$TAG' is not a valid image tag"

# name:binary:repository:ports (the repositories are the kustomizations' names).
declare -A BINARY=([coordinator]=drover-coordinator [kube-updater]=drover-kube-updater)
declare -A PORTS=(
  # grpc, metrics, watch, health, version server (deploy/kubernetes/coordinator).
  [coordinator]="7600 7601 7602 7604 8080"
  [kube-updater]=""
)
EXPLICIT=1
if [[ ${#IMAGES[@]} -eq 0 ]]; then
  IMAGES=(coordinator kube-updater)
  EXPLICIT=0
fi
for i in "${IMAGES[@]}"; do
  [[ -n ${BINARY[$i]+x} ]] || die "--image '$i' is not coordinator or kube-updater"
done

[[ $(id -u) -eq 0 ]] || fail "needs root: buildah runs here with the vfs driver and chroot isolation"
for tool in buildah skopeo python3 strip ldd git; do
  command -v "$tool" >/dev/null || fail "$tool not found: run deploy/install-deps.sh"
done
[[ -d $BUILD/bin ]] || die "$BUILD/bin does not exist: build first (cmake --build build) or pass --build-dir"

TODO=()
for i in "${IMAGES[@]}"; do
  bin=$BUILD/bin/${BINARY[$i]}
  if [[ -x $bin ]]; then
    TODO+=("$i")
  elif [[ $EXPLICIT -eq 1 ]]; then
    die "$bin is not built: build it first (cmake --build $BUILD --target ${BINARY[$i]}) or leave out --image=$i"
  else
    note "skipping $i: $bin is not built (pass --image=$i to make that an error)"
  fi
done
[[ ${#TODO[@]} -gt 0 ]] || die "nothing to build in $BUILD/bin"

CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
[[ -s $CA_BUNDLE ]] || fail "$CA_BUNDLE is missing: apt-get install ca-certificates"

# --- Provenance ---------------------------------------------------------------
VERSION=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
[[ -n $VERSION ]] || fail "no CMAKE_PROJECT_VERSION in $BUILD/CMakeCache.txt: is $BUILD a configured build tree?"
REVISION=$(git -C "$SRC" rev-parse HEAD)
EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$SRC" log -1 --format=%ct HEAD)}
[[ $EPOCH =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH '$EPOCH' is not seconds since the epoch"
if [[ -n $(git -C "$SRC" status --porcelain --untracked-files=no) ]]; then
  note "warning: $SRC has uncommitted changes; the revision label says $REVISION"
fi
# The public repository when there is a remote; nothing is made up otherwise.
SOURCE_URL=$(git -C "$SRC" config --get remote.origin.url 2>/dev/null || true)
TAG=${TAG:-$VERSION-g${REVISION:0:12}}
OUT=${OUT:-$BUILD/images}
mkdir -p "$OUT"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/drover-images.XXXXXX")
KEEP_STORAGE=1
if [[ -z $STORAGE ]]; then
  STORAGE=$WORK/storage
  KEEP_STORAGE=0
fi
CONTAINER=""
cleanup() {
  if [[ -n $CONTAINER ]]; then
    bh umount "$CONTAINER" >/dev/null 2>&1 || true
    bh rm "$CONTAINER" >/dev/null 2>&1 || true
  fi
  if [[ $KEEP_STORAGE -eq 0 && -d $STORAGE ]]; then
    # vfs layers may hold read-only directories; the storage has no mounts left.
    chmod -R u+w "$STORAGE" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

export BUILDAH_ISOLATION=chroot
bh() { buildah --root "$STORAGE/root" --runroot "$STORAGE/run" --storage-driver vfs "$@"; }
# Our own policy: the only images read are the archives made here.
printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$WORK/policy.json"
sk() { skopeo --policy "$WORK/policy.json" "$@"; }

# --- The root file system -------------------------------------------------------
# copy_path ROOTFS PATH: PATH as this host resolves it: each symlink on the way
# (e.g. /lib -> usr/lib, the loader's /usr/lib64 link) recreated in ROOTFS,
# the file at the end copied.
copy_path() {
  local rootfs=$1 path=$2 depth=${3:-0} cur="" i target rest
  local -a parts
  [[ $depth -lt 40 ]] || fail "too many symlinks resolving $2"
  IFS=/ read -ra parts <<<"${path#/}"
  for i in "${!parts[@]}"; do
    cur="$cur/${parts[i]}"
    if [[ -L $cur ]]; then
      target=$(readlink "$cur")
      [[ -e $rootfs$cur || -L $rootfs$cur ]] || ln -s "$target" "$rootfs$cur"
      [[ $target == /* ]] || target="$(dirname "$cur")/$target"
      rest=$(IFS=/; echo "${parts[*]:i+1}")
      copy_path "$rootfs" "$(realpath -m -s "$target${rest:+/$rest}")" $((depth + 1))
      return
    elif [[ $i -lt $((${#parts[@]} - 1)) ]]; then
      [[ -d $rootfs$cur ]] || install -d -m 0755 "$rootfs$cur"
    else
      [[ -f $cur ]] || fail "$cur is not a regular file"
      [[ -e $rootfs$cur ]] || install -m "$(stat -c %a "$cur")" "$cur" "$rootfs$cur"
    fi
  done
}

# ldd_closure BINARY: the absolute paths of the libraries and loader it loads.
ldd_closure() {
  local out
  out=$(ldd "$1" 2>&1) || fail "ldd $1 failed: $out"
  if grep -q 'not found' <<<"$out"; then
    fail "$1 has libraries this host lacks: $(grep 'not found' <<<"$out" | tr -s ' \t' ' ')"
  fi
  awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$out" | sort -u
}

make_rootfs() {
  local name=$1 rootfs=$2 bin=$BUILD/bin/${BINARY[$1]} lib pkg libs
  local -a pkgs=()
  install -d -m 0755 "$rootfs"/{etc,usr/bin,usr/share/doc,var/lib/dpkg/status.d,etc/ssl/certs}
  install -d -m 1777 "$rootfs/tmp"
  install -d -m 0700 -o "$NONROOT_UID" -g "$NONROOT_UID" "$rootfs/home/nonroot"
  strip -o "$rootfs/usr/bin/${BINARY[$name]}" "$bin"
  chmod 0755 "$rootfs/usr/bin/${BINARY[$name]}"
  # Assigned first: a failure inside the for-list itself would go unnoticed.
  libs=$(ldd_closure "$bin")
  for lib in $libs; do
    copy_path "$rootfs" "$lib"
    # The package that owns it (dpkg knows the /lib/... spelling or the /usr/lib/... one).
    pkg=$(dpkg-query -S "$lib" 2>/dev/null || dpkg-query -S "$(realpath "$lib")" 2>/dev/null || true)
    pkg=${pkg%%:*}
    [[ -n $pkg ]] && pkgs+=("$pkg")
  done
  for pkg in $(printf '%s\n' "${pkgs[@]}" | sort -u); do
    dpkg-query -s "$pkg" | grep -v '^Conffiles:\|^ /' >"$rootfs/var/lib/dpkg/status.d/$pkg"
    if [[ -f /usr/share/doc/$pkg/copyright ]]; then
      install -D -m 0644 "/usr/share/doc/$pkg/copyright" "$rootfs/usr/share/doc/$pkg/copyright"
    fi
  done
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n' \
    "$NONROOT_UID" "$NONROOT_UID" >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnonroot:x:%d:\n' "$NONROOT_UID" >"$rootfs/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
  install -m 0644 "$CA_BUNDLE" "$rootfs/etc/ssl/certs/ca-certificates.crt"
  chmod 0644 "$rootfs"/etc/{passwd,group,nsswitch.conf}
  # Nothing but /tmp and the nonroot home writable by anyone but root.
  if find "$rootfs" -perm -o+w ! -type l ! -path "$rootfs/tmp" | grep -q .; then
    fail "world-writable files in the image: $(find "$rootfs" -perm -o+w ! -type l ! -path "$rootfs/tmp")"
  fi
}

mib() { python3 -c "print(f'{$1 / 1048576:.1f}')"; }

# manifest_facts ARCHIVE: "DIGEST SIZE" (manifest digest; config + layers bytes, what a pull moves).
manifest_facts() {
  sk inspect --raw "oci-archive:$1" | python3 -c '
import hashlib, json, sys
raw = sys.stdin.buffer.read()
m = json.loads(raw)
print("sha256:" + hashlib.sha256(raw).hexdigest(), m["config"]["size"] + sum(l["size"] for l in m["layers"]))'
}

# set_kustomize REPO PUSHED_NAME DIGEST: the images: entry whose name ends in /REPO.
set_kustomize() {
  local repo=$1 pushed=$2 digest=$3 file hits=0
  for file in "$KUSTOMIZE_DIR"/*/kustomization.yaml; do
    grep -qE "^  - name: .*/$repo\$" "$file" || continue
    python3 - "$file" "$repo" "$pushed" "$digest" <<'EOF' || fail "could not rewrite $file"
import re, sys
path, repo, pushed, digest = sys.argv[1:]
lines = open(path).read().split("\n")
out, i = [], 0
while i < len(lines):
    line = lines[i]
    m = re.match(r"^  - name: (\S+)$", line)
    if not (m and m.group(1).endswith("/" + repo)):
        out.append(line); i += 1; continue
    name = m.group(1)
    out.append(line); i += 1
    # The entry's other keys, indented four spaces; digest and newName are rewritten.
    body = []
    while i < len(lines) and re.match(r"^    \S", lines[i]):
        if not re.match(r"^    (digest|newName|newTag):", lines[i]):
            body.append(lines[i])
        i += 1
    if pushed != name:
        body.append("    newName: " + pushed)
    body.append("    digest: " + digest)
    out.extend(body)
open(path, "w").write("\n".join(out))
EOF
    note "$file: $repo pinned to ${pushed}@$digest"
    hits=$((hits + 1))
  done
  [[ $hits -gt 0 ]] || fail "--set-kustomize: no images: entry named .../$repo under $KUSTOMIZE_DIR"
}

# --- Build, (push), report ----------------------------------------------------------
for name in "${TODO[@]}"; do
  image=${BINARY[$name]}
  rootfs=$WORK/rootfs-$name
  make_rootfs "$name" "$rootfs"

  CONTAINER=$(bh from --name "$image-build-$$" scratch)
  mnt=$(bh mount "$CONTAINER")
  cp -a "$rootfs/." "$mnt/"
  bh umount "$CONTAINER" >/dev/null
  config=(--entrypoint "[\"/usr/bin/$image\"]" --cmd '' --user "$NONROOT_UID:$NONROOT_UID"
    --created-by "deploy/images/build.sh" --workingdir /home/nonroot --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
    --label "org.opencontainers.image.title=$image"
    --label "org.opencontainers.image.version=$VERSION"
    --label "org.opencontainers.image.revision=$REVISION"
    --label "org.opencontainers.image.created=$(date -u -d "@$EPOCH" +%Y-%m-%dT%H:%M:%SZ)")
  [[ -z $SOURCE_URL ]] || config+=(--label "org.opencontainers.image.source=$SOURCE_URL")
  for port in ${PORTS[$name]}; do config+=(--port "$port/tcp"); done
  bh config "${config[@]}" "$CONTAINER"

  archive=$OUT/$image.oci.tar
  rm -f "$archive"
  # Compressed here, so that the push copies the blobs as they are and the
  # archive's digest is the registry's.
  bh commit --quiet --rm --format oci --disable-compression=false --timestamp "$EPOCH" \
    "$CONTAINER" "oci-archive:$archive:$image:$TAG" >/dev/null
  CONTAINER=""
  facts=$(manifest_facts "$archive")
  read -r digest size <<<"$facts"
  line="name=$image digest=$digest size=$size archive=$archive"

  if [[ -n $PUSH ]]; then
    ref=$PUSH/$name
    tls=(--dest-tls-verify=true)
    inspect_tls=(--tls-verify=true)
    if [[ $INSECURE -eq 1 ]]; then tls=(--dest-tls-verify=false); inspect_tls=(--tls-verify=false); fi
    sk copy --quiet --preserve-digests "${tls[@]}" --digestfile "$WORK/$name.digest" \
      "oci-archive:$archive" "docker://$ref:$TAG" >&2 || fail "pushing $image to $ref:$TAG failed (above)"
    # What the registry itself answers for the tag, not what we computed.
    reported=$(sk inspect "${inspect_tls[@]}" --format '{{.Digest}}' "docker://$ref:$TAG") ||
      fail "the registry did not answer for $ref:$TAG after the push"
    [[ $reported == "$(cat "$WORK/$name.digest")" ]] ||
      fail "$ref:$TAG: the registry reports $reported, skopeo pushed $(cat "$WORK/$name.digest")"
    [[ $reported == "$digest" ]] || fail "$ref:$TAG: the registry reports $reported, the archive is $digest"
    line+=" pushed=$ref@$reported"
    [[ -z $KUSTOMIZE_DIR ]] || set_kustomize "$name" "$ref" "$reported"
  fi
  echo "$line"
  note "$image: $digest, $(mib "$size") MiB compressed, $(mib "$(du -sb "$rootfs" | cut -f1)") MiB unpacked"
done
