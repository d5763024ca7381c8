#!/usr/bin/env bash
# The packages (deploy/packages.sh, cmake/packaging.cmake), from the binaries
# already built: their metadata, the .debs really installed on this machine
# through deploy/install-host.sh --package (apt), then removed and purged;
# the .rpms checked with rpm -qp (installing them would need their library
# dependencies in a dnf repository, which this machine does not have).
# Needs root; skipped (77) without it, and on a host where Drover is already
# installed (it would remove that). Cleans up whatever happens.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=lib.sh
source "$ROOT/tests/e2e/lib.sh"
BUILD=${DROVER_BUILD_DIR:-$ROOT/build}
PKGS=(drover-coordinator droverctl drover-updater)

if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: packages_test installs packages: needs root"
  exit 77
fi
for p in "${PKGS[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q installed; then
    echo "SKIP: $p is installed on this host; this test would remove it"
    exit 77
  fi
done
for d in /etc/drover /var/lib/drover /var/lib/drover-updater; do
  if [[ -e $d ]]; then
    echo "SKIP: $d exists (a Drover install?); this test would remove it"
    exit 77
  fi
done
HAD_USER=0
if getent passwd drover >/dev/null; then HAD_USER=1; fi
HAD_GROUP=0
if getent group drover >/dev/null; then HAD_GROUP=1; fi

TMP=$(mktemp -d /tmp/drover-packages.XXXXXX)
COORDINATOR_PID=""
CREATED_DB=""
cleanup() {
  local p
  stop_pid "$COORDINATOR_PID"
  if [[ -n "$CREATED_DB" ]]; then
    psql -X -q "$DROVER_TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS $CREATED_DB WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  for p in "${PKGS[@]}"; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -Eq 'installed|config-files|half'; then
      dpkg --purge "$p" >/dev/null 2>&1 || true
    fi
  done
  rm -rf /etc/drover /var/lib/drover /var/lib/drover-updater
  # The package keeps its user on purge (README); the test takes it away.
  if [[ $HAD_USER -eq 0 ]] && getent passwd drover >/dev/null; then
    userdel drover || echo "packages_test: could not delete the drover user (above)" >&2
  fi
  if [[ $HAD_GROUP -eq 0 ]] && getent group drover >/dev/null; then groupdel drover 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null; }

# 1. Build them, from the built tree.
t0=$SECONDS
"$ROOT/deploy/packages.sh" --build-dir="$BUILD" --output="$TMP/pkgs" --no-build >"$TMP/made" \
  || fail "deploy/packages.sh failed"
echo "packages built in $((SECONDS - t0))s:"
sed 's/^/  /' "$TMP/made"
VERSION=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$BUILD/CMakeCache.txt")
[[ -n "$VERSION" ]] || fail "no project version in $BUILD/CMakeCache.txt"
ARCH=$(dpkg --print-architecture)
deb() { echo "$TMP/pkgs/$1_$VERSION-1_$ARCH.deb"; }
rpmf() { echo "$TMP/pkgs/$1-$VERSION-1.$(rpm --eval '%{_arch}').rpm"; }
for p in "${PKGS[@]}"; do
  grep -qxF "$(deb "$p")" "$TMP/made" || fail "packages.sh did not report $(deb "$p")"
  grep -qxF "$(rpmf "$p")" "$TMP/made" || fail "packages.sh did not report $(rpmf "$p")"
done

# 2. .deb metadata and contents.
field() { dpkg-deb -f "$(deb "$1")" "$2"; }
for p in "${PKGS[@]}"; do
  [[ $(field "$p" Package) == "$p" ]] || fail "$p: Package is $(field "$p" Package)"
  [[ $(field "$p" Version) == "$VERSION-1" ]] || fail "$p: Version $(field "$p" Version), want $VERSION-1"
  [[ $(field "$p" Maintainer) == *@* ]] || fail "$p: no Maintainer"
  [[ -n $(field "$p" Description) ]] || fail "$p: no Description"
  # Listings are read whole first: `| grep -q` under pipefail fails on SIGPIPE.
  contents=$(dpkg-deb -c "$(deb "$p")")
  grep -q "/usr/share/doc/$p/copyright$" <<<"$contents" || fail "$p: no copyright file"
done
depends=$(field drover-coordinator Depends)
for lib in 'libgrpc++1.51' libprotobuf32 'libpqxx-6.4' adduser 'libc6 '; do
  grep -qF "$lib" <<<"$depends" || fail "drover-coordinator does not depend on $lib: $depends"
done
grep -qF 'libgrpc++1.51' <<<"$(field droverctl Depends)" || fail "droverctl does not depend on gRPC"
grep -qF 'libarchive13' <<<"$(field drover-updater Depends)" || fail "drover-updater does not depend on libarchive13"
conffiles() { dpkg-deb --ctrl-tarfile "$(deb "$1")" | tar -xO ./conffiles; }
[[ $(conffiles drover-coordinator) == /etc/drover/coordinator.env ]] || fail "coordinator conffiles: $(conffiles drover-coordinator)"
[[ $(conffiles drover-updater) == /etc/drover/updater.conf.example ]] || fail "updater conffiles: $(conffiles drover-updater)"
contents=$(dpkg-deb -c "$(deb drover-coordinator)")
grep -q ' ./lib/systemd/system/drover-coordinator.service$' <<<"$contents" || fail "coordinator unit not in /lib/systemd/system"
grep -q '^-rw------- root/root .* ./etc/drover/coordinator.env$' <<<"$contents" || fail "coordinator.env is not 0600 root"
grep -q 'migrations' <<<"$contents" && fail "migrations in the package (they are compiled in)"

# 3. .rpm metadata, requirements and files (not installed: see the top).
for p in "${PKGS[@]}"; do
  info=$(rpm -qpi "$(rpmf "$p")" 2>/dev/null)
  grep -q "^Name *: $p$" <<<"$info" || fail "$p.rpm: Name: $info"
  grep -q "^Version *: $VERSION$" <<<"$info" || fail "$p.rpm: Version: $info"
  grep -q "^License *: ." <<<"$info" || fail "$p.rpm: no License"
done
reqs=$(rpm -qpR "$(rpmf drover-coordinator)" 2>/dev/null)
for r in shadow-utils systemd 'libgrpc++.so.1.51' 'libprotobuf.so.32' 'libpqxx-6.4.so'; do
  grep -qF "$r" <<<"$reqs" || fail "drover-coordinator.rpm does not require $r: $reqs"
done
grep -qF systemd <<<"$(rpm -qpR "$(rpmf drover-updater)" 2>/dev/null)" || fail "drover-updater.rpm does not require systemd"
files=$(rpm -qpl "$(rpmf drover-coordinator)" 2>/dev/null)
for f in /usr/bin/drover-coordinator /usr/lib/systemd/system/drover-coordinator.service /etc/drover/coordinator.env \
         /var/lib/drover; do
  grep -qx "$f" <<<"$files" || fail "drover-coordinator.rpm lacks $f: $files"
done
grep -qx /usr/lib/systemd/system <<<"$files" && fail "drover-coordinator.rpm owns /usr/lib/systemd/system"
configs=$(rpm -qp --configfiles "$(rpmf drover-coordinator)" 2>/dev/null)
[[ $configs == /etc/drover/coordinator.env ]] || fail "drover-coordinator.rpm %config files: $configs"
grep -q useradd <<<"$(rpm -qp --scripts "$(rpmf drover-coordinator)" 2>/dev/null)" || fail "no useradd in %pre"
files=$(rpm -qpl "$(rpmf drover-updater)" 2>/dev/null)
for f in /usr/bin/drover-updater /usr/bin/drover-updater-pass /usr/lib/systemd/system/drover-updater.service \
         /usr/lib/systemd/system/drover-updater-once.timer /etc/drover/updater.conf.example; do
  grep -qx "$f" <<<"$files" || fail "drover-updater.rpm lacks $f"
done
grep -qx /usr/bin/droverctl <<<"$(rpm -qpl "$(rpmf droverctl)" 2>/dev/null)" || fail "droverctl.rpm lacks droverctl"

# 4. install-host.sh --package --root: the files unpacked, the config written.
cat >"$TMP/agent.conf" <<'AGENT'
agent {
  name: "teleport"
  apt { source_list: "/etc/apt/sources.list.d/teleport.list" }
  restart_command: ["systemctl", "try-restart", "teleport"]
  health_check { command { argv: ["/bin/true"] } }
}
AGENT
openssl genpkey -algorithm ed25519 2>/dev/null | openssl pkey -pubout -out "$TMP/root.pub"
# On this machine: an agent whose installer needs nothing of the host.
cat >"$TMP/tarball-agent.conf" <<AGENT
agent {
  name: "drover-demo-agent"
  tarball { base: "/srv/drover" public_key_file: "$TMP/root.pub" install_dir: "/opt/demo" }
  restart_command: ["/bin/true"]
  health_check { command { argv: ["/bin/true"] } }
}
AGENT
"$ROOT/deploy/install-host.sh" --package="$TMP/pkgs" --root="$TMP/root" --with-coordinator \
  --coordinator=coord.example:7600 --channel=stable --agent-config="$TMP/agent.conf" \
  --root-public-key="$TMP/root.pub" >"$TMP/out" 2>&1 || fail "install-host --package --root: $(cat "$TMP/out")"
for f in usr/bin/drover-updater usr/bin/drover-updater-pass usr/bin/drover-coordinator \
         lib/systemd/system/drover-updater.service lib/systemd/system/drover-coordinator.service \
         etc/drover/coordinator.env etc/drover/updater.conf etc/drover/root.pub \
         etc/systemd/system/drover-updater.service.d/50-packages.conf; do
  [[ -e "$TMP/root/$f" ]] || fail "install-host --package --root did not install $f"
done
[[ ! -e "$TMP/root/usr/local/bin/drover-updater" ]] || fail "install-host --package copied build/bin too"
[[ ! -e "$TMP/root/usr/bin/droverctl" ]] || fail "install-host --package installed droverctl (not asked for)"
out=$("$ROOT/deploy/install-host.sh" --package="$TMP/nowhere" --root="$TMP/r2" --coordinator=c:1 --channel=x 2>&1) \
  && fail "install-host took a missing --package directory"
grep -q "'$TMP/nowhere' is not a directory" <<<"$out" || fail "missing --package directory not named: $out"

# 5. On this machine: install-host.sh --package installs the .debs with apt
# (systemd is not PID 1: nothing is started), droverctl with apt directly.
t0=$SECONDS
"$ROOT/deploy/install-host.sh" --package="$TMP/pkgs" --with-coordinator --coordinator=coord.example:7600 \
  --channel=stable --agent-config="$TMP/tarball-agent.conf" --root-public-key="$TMP/root.pub" >"$TMP/out" 2>&1 \
  || fail "install-host --package: $(cat "$TMP/out")"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$(deb droverctl)" >"$TMP/out" 2>&1 \
  || fail "apt-get install droverctl: $(cat "$TMP/out")"
echo "installed in $((SECONDS - t0))s"
for p in "${PKGS[@]}"; do
  [[ $(installed "$p") == "install ok installed" ]] || fail "$p: $(installed "$p")"
done
for f in /usr/bin/drover-coordinator /usr/bin/droverctl /usr/bin/drover-artifact /usr/bin/drover-updater \
         /usr/bin/drover-updater-pass /lib/systemd/system/drover-coordinator.service \
         /lib/systemd/system/drover-updater.service /lib/systemd/system/drover-updater-once.service \
         /lib/systemd/system/drover-updater-once.timer /etc/drover/coordinator.env /etc/drover/updater.conf.example \
         /etc/drover/updater.conf /usr/share/doc/drover-coordinator/README.md; do
  [[ -e $f ]] || fail "$f is not installed"
done
getent passwd drover >/dev/null || fail "no drover user"
[[ $(stat -c '%U:%G %a' /var/lib/drover) == "drover:drover 750" ]] || fail "/var/lib/drover is $(stat -c '%U:%G %a' /var/lib/drover)"
[[ $(stat -c '%U %a' /etc/drover/coordinator.env) == "root 600" ]] || fail "coordinator.env is $(stat -c '%U %a' /etc/drover/coordinator.env)"
[[ $(getent passwd drover | cut -d: -f7) == */nologin ]] || fail "drover has a login shell"
grep -q '^ExecStart=/usr/bin/drover-coordinator ' /lib/systemd/system/drover-coordinator.service \
  || fail "the packaged coordinator unit does not run /usr/bin/drover-coordinator"
grep -q '^User=drover$' /lib/systemd/system/drover-coordinator.service || fail "the coordinator unit runs as root"
/usr/bin/drover-coordinator --help >/dev/null || fail "drover-coordinator --help failed"
[[ $(/usr/bin/drover-coordinator version) == *"$VERSION"* ]] || fail "drover-coordinator version: $(/usr/bin/drover-coordinator version)"
/usr/bin/droverctl --help >/dev/null || fail "droverctl --help failed"
/usr/bin/drover-updater --help >/dev/null || fail "drover-updater --help failed"
out=$(/usr/bin/drover-updater status --config=/etc/drover/updater.conf --host_id=h1 --state_dir="$TMP/state" 2>&1) \
  || fail "the installed updater rejects the installed config: $out"
out=$(systemd-analyze verify /lib/systemd/system/drover-coordinator.service /lib/systemd/system/drover-updater.service \
      /lib/systemd/system/drover-updater-once.service /lib/systemd/system/drover-updater-once.timer 2>&1) \
  || fail "systemd-analyze verify of the installed units: $out"
[[ -z "$out" ]] || fail "systemd-analyze verify complained: $out"

# The service's own command line, as the drover user: the CA its default
# coordinator.env names, made in its state directory, then (with the
# PostgreSQL of tests/run.sh) serving until ready. systemd is not PID 1 here:
# this is what the unit would run, minus its sandbox.
as_drover() { setpriv --reuid=drover --regid=drover --init-groups -- "$@"; }
as_drover /usr/bin/drover-coordinator ca init --ca_dir=/var/lib/drover/ca --fleet=drover >"$TMP/out" 2>&1 \
  || fail "ca init as drover in /var/lib/drover: $(cat "$TMP/out")"
flags=$(sed -n 's/^DROVER_COORDINATOR_FLAGS=//p' /etc/drover/coordinator.env)
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/drover-coordinator.service)
exec_start=${exec_start//'$DROVER_COORDINATOR_FLAGS'/$flags}
if [[ -n "${DROVER_TEST_DATABASE_URL:-}" ]] && command -v psql >/dev/null; then
  DB=drover_packages_$$
  psql -X -q "$DROVER_TEST_DATABASE_URL" -c "CREATE DATABASE $DB" || fail "cannot create database $DB"
  CREATED_DB=$DB
  # shellcheck disable=SC2086 # split like systemd splits an unquoted $VAR
  # setpriv itself, not as_drover: $! must be the coordinator, not a subshell.
  DROVER_DATABASE_URL=${DROVER_TEST_DATABASE_URL%/*}/$DB setpriv --reuid=drover --regid=drover --init-groups -- \
    $exec_start --grpc_listen=127.0.0.1:0 \
    --metrics_listen=127.0.0.1:0 --ready_file=/var/lib/drover/ready >"$TMP/coordinator.log" 2>&1 &
  COORDINATOR_PID=$!
  ready() {
    [[ -s /var/lib/drover/ready ]] && return 0
    kill -0 "$COORDINATOR_PID" 2>/dev/null || fail "the packaged coordinator exited: $(tail -5 "$TMP/coordinator.log")"
    return 1
  }
  wait_for 60 "the packaged coordinator ready" ready
  stop_pid "$COORDINATOR_PID"
  COORDINATOR_PID=""
  rm -f /var/lib/drover/ready
  echo "the packaged coordinator served as drover with the default coordinator.env flags"
else
  # Without a database it must get past its TLS checks to the database.
  # shellcheck disable=SC2086
  out=$(DROVER_DATABASE_URL=postgresql://drover@127.0.0.1:1/drover as_drover $exec_start \
        --grpc_listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 --startup_timeout=1s 2>&1) && fail "served without a database"
  grep -q "connecting to PostgreSQL" <<<"$out" || fail "the packaged coordinator stopped before the database: $out"
  echo "no DROVER_TEST_DATABASE_URL: checked the coordinator's start up to the database"
fi

# Maintainer scripts run again (a reinstall is an upgrade to the same version).
dpkg -i "$(deb drover-coordinator)" "$(deb drover-updater)" >"$TMP/out" 2>&1 || fail "reinstall: $(cat "$TMP/out")"
[[ $(getent passwd drover | wc -l) -eq 1 ]] || fail "reinstall made a second drover user"
[[ $(stat -c '%U:%G %a' /var/lib/drover/ca/ca.key) == "drover:drover 600" ]] || fail "reinstall touched the CA key"

# 6. remove: binaries and units gone; config, data and user kept.
apt-get remove -y -q "${PKGS[@]}" >"$TMP/out" 2>&1 || fail "apt-get remove: $(cat "$TMP/out")"
for f in /usr/bin/drover-coordinator /usr/bin/droverctl /usr/bin/drover-updater /usr/bin/drover-updater-pass \
         /lib/systemd/system/drover-coordinator.service /lib/systemd/system/drover-updater.service; do
  [[ ! -e $f ]] || fail "$f is still there after remove"
done
for f in /etc/drover/coordinator.env /etc/drover/updater.conf.example /etc/drover/updater.conf /var/lib/drover/ca/ca.key; do
  [[ -e $f ]] || fail "remove took $f"
done
getent passwd drover >/dev/null || fail "remove took the drover user"

# 7. purge: config gone; the CA directory and the user stay (README).
dpkg --purge "${PKGS[@]}" >"$TMP/out" 2>&1 || fail "dpkg --purge: $(cat "$TMP/out")"
for p in "${PKGS[@]}"; do
  [[ -z $(installed "$p") || $(installed "$p") == "unknown ok not-installed" ]] || fail "$p after purge: $(installed "$p")"
done
for f in /etc/drover/coordinator.env /etc/drover/updater.conf.example /etc/drover/updater.conf /etc/drover/root.pub \
         /etc/systemd/system/drover-updater.service.d /etc/drover; do
  [[ ! -e $f ]] || fail "purge left $f"
done
[[ -f /var/lib/drover/ca/ca.key ]] || fail "purge deleted the coordinator's keys"
grep -q "kept /var/lib/drover" "$TMP/out" || fail "purge did not say it kept /var/lib/drover: $(cat "$TMP/out")"
getent passwd drover >/dev/null || fail "purge took the drover user"
echo "packages_test: all checks passed"
