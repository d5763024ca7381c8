#!/usr/bin/env bash
# The systemd units pass `systemd-analyze verify`, carry their hardening, and
# deploy/install-host.sh installs a working configuration (into a root dir:
# systemd is not PID 1 here, so units are checked statically).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${DROVER_BIN_DIR:-$ROOT/build/bin}
TMP=$(mktemp -d /tmp/drover-units.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. verify, with ExecStart pointing at the built binaries.
mkdir -p "$TMP/units"
for u in "$ROOT"/deploy/systemd/*; do
  sed "s|/usr/local/bin/|$BIN/|g" "$u" >"$TMP/units/$(basename "$u")"
done
out=$(cd "$TMP/units" && systemd-analyze verify ./*.service ./*.timer 2>&1) || fail "systemd-analyze verify failed: $out"
[[ -z "$out" ]] || fail "systemd-analyze verify complained: $out"
# ... and with the apt/dnf drop-in in place.
for u in drover-updater.service drover-updater-once.service; do
  mkdir -p "$TMP/units/$u.d"
  cp "$ROOT/deploy/systemd/drover-updater-packages.conf" "$TMP/units/$u.d/50-packages.conf"
done
out=$(cd "$TMP/units" && SYSTEMD_UNIT_PATH="$TMP/units:" systemd-analyze verify drover-updater.service \
      drover-updater-once.service 2>&1) || fail "systemd-analyze verify with the packages drop-in failed: $out"
[[ -z "$out" ]] || fail "systemd-analyze verify with the packages drop-in complained: $out"

# 2. hardening and behaviour that must not silently go away.
for s in drover-coordinator drover-updater drover-updater-once; do
  f="$ROOT/deploy/systemd/$s.service"
  for d in NoNewPrivileges=yes ProtectSystem= PrivateTmp=yes ProtectHome=yes ProtectKernelModules=yes; do
    grep -q "^$d" "$f" || fail "$s.service lacks $d"
  done
done
# The updater's confinement (docs/security.md, "systemd hardening"), kept
# compatible with every installer: no capability or call package managers use
# is taken away (the packages drop-in adds only writable paths and a umask).
for s in drover-updater drover-updater-once; do
  f="$ROOT/deploy/systemd/$s.service"
  for d in RestrictSUIDSGID=yes PrivateDevices=yes 'CapabilityBoundingSet=CAP_' SystemCallFilter=@system-service \
           SystemCallErrorNumber=EPERM; do
    grep -q "^$d" "$f" || fail "$s.service lacks $d"
  done
  for cap in CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_SETUID CAP_SETGID CAP_KILL; do
    grep -q "^CapabilityBoundingSet=.*$cap" "$f" || fail "$s.service drops $cap, which apt, dpkg or rpm need"
  done
  grep -q '^CapabilityBoundingSet=.*CAP_SYS_ADMIN' "$f" && fail "$s.service keeps CAP_SYS_ADMIN"
  grep -Eq '^SystemCallFilter=~.*@(privileged|chown|setuid)' "$f" && fail "$s.service filters calls package managers use"
done
# Exposure figures recorded in docs/security.md, checked where systemd-analyze can score offline.
# (--help read whole first: `| grep -q` under pipefail fails on SIGPIPE.)
analyze_help=$(systemd-analyze security --help 2>/dev/null || true)
if grep -q -- '--offline' <<<"$analyze_help"; then
  score() { systemd-analyze security --offline=true "$1" 2>/dev/null | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p'; }
  c=$(score "$ROOT/deploy/systemd/drover-coordinator.service")
  u=$(score "$ROOT/deploy/systemd/drover-updater.service")
  awk -v c="$c" 'BEGIN { exit !(c != "" && c <= 2.0) }' || fail "coordinator exposure $c, want <= 2.0"
  awk -v u="$u" 'BEGIN { exit !(u != "" && u <= 3.5) }' || fail "updater exposure $u, want <= 3.5 (was 6.9)"
fi
grep -q '^Type=notify' "$ROOT/deploy/systemd/drover-updater.service" || fail "updater daemon is not Type=notify"
grep -q '^WatchdogSec=' "$ROOT/deploy/systemd/drover-updater.service" || fail "updater daemon has no watchdog"
grep -q '^RandomizedDelaySec=' "$ROOT/deploy/systemd/drover-updater-once.timer" || fail "timer has no randomized delay"
grep -q '^User=drover' "$ROOT/deploy/systemd/drover-coordinator.service" || fail "coordinator runs as root"

# 2b. each installer can write what it needs (systemd is not PID 1 here, so
# ProtectSystem= and ReadWritePaths= are evaluated as systemd documents them:
# full makes /usr, /boot, /efi and /etc read-only, strict all of /, and
# ReadWritePaths= re-opens paths below them).
effective() {  # effective KEY FILE...: the last KEY= over a unit and its drop-ins
  cat "${@:2}" | sed -n "s/^$1=//p" | tail -1
}
writable() {  # writable PATH FILE...
  local path=$1 r w; shift
  local ro=()
  case $(effective ProtectSystem "$@") in
    full) ro=(/usr /boot /efi /etc) ;;
    strict) ro=(/) ;;
    yes|true) ro=(/usr /boot /efi) ;;
  esac
  local protected=0
  for r in "${ro[@]}"; do [[ $r == / || $path == "$r" || $path == "$r"/* ]] && protected=1; done
  [[ $protected -eq 0 ]] && return 0
  for w in $(cat "$@" | sed -n 's/^ReadWritePaths=//p'); do [[ $path == "$w" || $path == "$w"/* ]] && return 0; done
  return 1
}
PKG_DROPIN="$ROOT/deploy/systemd/drover-updater-packages.conf"
for s in drover-updater drover-updater-once; do
  unit="$ROOT/deploy/systemd/$s.service"
  # tarball installer: the unit alone.
  for p in /opt/teleport/versions /var/lib/drover-updater; do
    writable "$p" "$unit" || fail "$s.service: the tarball installer cannot write $p"
  done
  writable /usr/bin "$unit" && fail "$s.service: /usr is writable without the packages drop-in"
  # apt and dnf: dpkg/rpm unpack under /usr and /etc, the dnf lock is in /etc/dnf/dnf.conf.
  for p in /usr/bin/teleport /usr/lib/teleport /etc/teleport.yaml /etc/dnf/dnf.conf /var/lib/dpkg/status \
           /var/lib/rpm /var/cache/apt; do
    writable "$p" "$unit" "$PKG_DROPIN" || fail "$s.service with the packages drop-in cannot write $p"
  done
  writable /boot/vmlinuz "$unit" "$PKG_DROPIN" && fail "$s.service with the packages drop-in can write /boot"
  [[ $(effective UMask "$unit" "$PKG_DROPIN") == 0022 ]] || fail "$s.service: maintainer scripts run under umask $(effective UMask "$unit" "$PKG_DROPIN")"
done

# 3. install-host.sh into a root directory.
openssl genpkey -algorithm ed25519 2>/dev/null | openssl pkey -pubout -out "$TMP/key.pub.pem"
cat >"$TMP/agent.conf" <<AGENT
agent {
  name: "drover-demo-agent"
  tarball { base: "/srv/drover" public_key_file: "$TMP/key.pub.pem" install_dir: "/opt/demo" }
  restart_command: ["/bin/true"]
  health_check { command { argv: ["/bin/true"] } }
}
AGENT
out=$("$ROOT/deploy/install-host.sh" --root="$TMP/root" --coordinator=coord.example:7600 --channel=stable/cloud \
      --agent-config="$TMP/agent.conf" --root-public-key="$TMP/key.pub.pem" --with-coordinator \
      --watch=coord.example:7602 2>&1) \
  || fail "install-host failed: $out"
grep -q '^watch: "coord.example:7602"$' "$TMP/root/etc/drover/updater.conf" || fail "--watch is not in updater.conf"
out=$("$ROOT/deploy/install-host.sh" --root="$TMP/bad" --coordinator=coord.example:7600 --channel=x \
      --watch=http://coord.example:7602 2>&1) && fail "install-host took a bad --watch"
grep -q "\-\-watch 'http://coord.example:7602' is not HOST:PORT" <<<"$out" || fail "bad --watch not named: $out"
for f in usr/local/bin/drover-updater usr/local/bin/drover-updater-pass usr/local/bin/drover-coordinator etc/systemd/system/drover-updater.service \
         etc/systemd/system/drover-updater-once.timer etc/drover/updater.conf etc/drover/coordinator.env; do
  [[ -e "$TMP/root/$f" ]] || fail "install-host did not install $f"
done
[[ $(stat -c %a "$TMP/root/etc/drover/updater.conf") == 600 ]] || fail "updater.conf is not mode 600"
# The installed config is valid for the updater itself.
out=$("$BIN/drover-updater" status --config="$TMP/root/etc/drover/updater.conf" --host_id=h1 \
      --state_dir="$TMP/state" 2>&1) || fail "installed config rejected: $out"
grep -q "channel:          stable/cloud" <<<"$out" || fail "status does not show the channel: $out"
# A second install keeps the edited config.
echo "# edited" >>"$TMP/root/etc/drover/updater.conf"
"$ROOT/deploy/install-host.sh" --root="$TMP/root" --coordinator=coord.example:7600 --channel=x >/dev/null
grep -q "# edited" "$TMP/root/etc/drover/updater.conf" || fail "reinstall overwrote the config"

# An apt (or dnf) agent gets the packages drop-in for both units; the tarball
# agent above does not.
for u in drover-updater.service drover-updater-once.service; do
  [[ ! -e "$TMP/root/etc/systemd/system/$u.d/50-packages.conf" ]] || fail "tarball agent got the packages drop-in for $u"
done
cat >"$TMP/apt-agent.conf" <<AGENT
agent {
  name: "teleport"
  apt { source_list: "/etc/apt/sources.list.d/teleport.list" }
  restart_command: ["systemctl", "try-restart", "teleport"]
  health_check { command { argv: ["/bin/true"] } }
}
AGENT
"$ROOT/deploy/install-host.sh" --root="$TMP/root-apt" --coordinator=coord.example:7600 --channel=stable \
  --agent-config="$TMP/apt-agent.conf" --root-public-key="$TMP/key.pub.pem" >/dev/null \
  || fail "install-host with an apt agent failed"
for u in drover-updater.service drover-updater-once.service; do
  cmp -s "$PKG_DROPIN" "$TMP/root-apt/etc/systemd/system/$u.d/50-packages.conf" \
    || fail "apt agent: the packages drop-in for $u is not installed"
done

# 4. bad input is named.
out=$("$ROOT/deploy/install-host.sh" --root="$TMP/r2" --channel=x 2>&1) && fail "missing --coordinator accepted"
grep -q -- "--coordinator" <<<"$out" || fail "missing --coordinator not named: $out"
out=$("$ROOT/deploy/install-host.sh" --root="$TMP/r2" --coordinator=nope --channel=x 2>&1) && fail "bad address accepted"
grep -q "'nope'" <<<"$out" || fail "bad address not named: $out"
echo "systemd_units_test: all checks passed"
