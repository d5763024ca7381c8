#!/usr/bin/env bash
# Installs drover-updater (and optionally the coordinator) on a host:
# binaries, systemd units, a config to edit, and the state directory.
#
#   deploy/install-host.sh --coordinator=HOST:PORT --channel=ID [--agent-config=FILE]
#                          [--mode=daemon|timer] [--with-coordinator] [--root=DIR] [--no-start]
#                          [--root-public-key=FILE] [--watch=HOST:PORT] [--package=DIR]
#
# --package: install the packages in DIR (deploy/packages.sh makes them):
# drover-updater, and drover-coordinator with --with-coordinator; the .deb
# with apt where dpkg is the package manager, else the .rpm with dnf. They put
# the binaries in /usr/bin and the units in the system unit directory; the
# coordinator's creates the `drover` user. With --root the packages are only
# unpacked there (no maintainer scripts). Without --package, the binaries of
# build/bin (or $DROVER_BIN_DIR) are copied to /usr/local/bin: for development.
# --watch: the coordinator's watch endpoint (its --watch_listen), so the
# daemon is told of changes at once instead of at its next poll.
# --agent-config: a file with the `agent { ... }` part of the updater config
# (protobuf text format); without it a commented template is installed and
# the updater is not started. --root installs under DIR (for packaging and tests).
set -euo pipefail

ROOT_DIR=""
COORDINATOR=""
WATCH=""
CHANNEL=""
AGENT_CONFIG=""
MODE=daemon
PACKAGE_DIR=""
WITH_COORDINATOR=0
START=1
SRC=$(cd "$(dirname "$0")/.." && pwd)
BIN_DIR=${DROVER_BIN_DIR:-$SRC/build/bin}

die() { echo "install-host: $*" >&2; exit 2; }
for arg in "$@"; do
  case "$arg" in
    --root=*) ROOT_DIR=$(realpath -m "${arg#*=}") ;;
    --coordinator=*) COORDINATOR=${arg#*=} ;;
    --channel=*) CHANNEL=${arg#*=} ;;
    --watch=*) WATCH=${arg#*=} ;;
    --agent-config=*) AGENT_CONFIG=${arg#*=} ;;
    --root-public-key=*) ROOT_PUBLIC_KEY=${arg#*=} ;;
    --mode=*) MODE=${arg#*=} ;;
    --package=*) PACKAGE_DIR=$(realpath -m "${arg#*=}") ;;
    --with-coordinator) WITH_COORDINATOR=1 ;;
    --no-start) START=0 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$arg' (see --help)" ;;
  esac
done
[[ -n "$COORDINATOR" ]] || die "--coordinator=HOST:PORT is required"
[[ "$COORDINATOR" =~ ^[^:]+:[0-9]+$ ]] || die "--coordinator '$COORDINATOR' is not HOST:PORT"
[[ -z "$WATCH" || "$WATCH" =~ ^[^:/\ ]+:[0-9]+$ ]] || die "--watch '$WATCH' is not HOST:PORT (the coordinator's --watch_listen)"
[[ -n "$CHANNEL" ]] || die "--channel=ID is required (e.g. stable/cloud)"
[[ "$MODE" == daemon || "$MODE" == timer ]] || die "--mode '$MODE' is not daemon or timer"
[[ -z "$AGENT_CONFIG" || -f "$AGENT_CONFIG" ]] || die "--agent-config '$AGENT_CONFIG' does not exist"
[[ -z "${ROOT_PUBLIC_KEY:-}" || -f "$ROOT_PUBLIC_KEY" ]] || die "--root-public-key '$ROOT_PUBLIC_KEY' does not exist"

# --package: the .deb where dpkg is the package manager, else the .rpm.
package_format() {
  if command -v dpkg >/dev/null && [[ -f /var/lib/dpkg/status ]]; then
    echo deb
  elif command -v rpm >/dev/null; then
    echo rpm
  else
    die "--package: neither dpkg nor rpm is on this host"
  fi
}

# package_file FORMAT NAME: the newest NAME package of that format for this
# architecture in PACKAGE_DIR.
package_file() {
  local format=$1 name=$2 pattern found
  if [[ $format == deb ]]; then
    pattern="${name}_*_$(dpkg --print-architecture).deb"
  else
    pattern="${name}-[0-9]*.$(rpm --eval '%{_arch}').rpm"
  fi
  # shellcheck disable=SC2086 # the pattern is meant to glob
  found=$(cd "$PACKAGE_DIR" && ls -1 $pattern 2>/dev/null | sort -V | tail -1)
  [[ -n "$found" ]] || die "--package: no $pattern in $PACKAGE_DIR (deploy/packages.sh --output=$PACKAGE_DIR makes them)"
  echo "$PACKAGE_DIR/$found"
}

# The packages: binaries in /usr/bin, units in the system unit directory,
# the coordinator's env file and `drover` user from its maintainer scripts.
install_packages() {
  local format packages p unit
  [[ -d "$PACKAGE_DIR" ]] || die "--package '$PACKAGE_DIR' is not a directory (deploy/packages.sh --output=DIR makes one)"
  format=$(package_format)
  packages=("$(package_file "$format" drover-updater)")
  [[ $WITH_COORDINATOR -eq 0 ]] || packages+=("$(package_file "$format" drover-coordinator)")
  if [[ -n "$ROOT_DIR" ]]; then
    # An image or a test: the files only; no user is made, nothing is registered.
    install -d -m 0755 "$ROOT_DIR"
    for p in "${packages[@]}"; do
      echo "install-host: unpacking $(basename "$p") under $ROOT_DIR (maintainer scripts not run)"
      if [[ $format == deb ]]; then
        dpkg-deb -x "$p" "$ROOT_DIR"
      else
        (cd "$ROOT_DIR" && rpm2cpio "$p" | cpio -idm --quiet)
      fi
    done
  else
    echo "install-host: installing ${packages[*]}"
    # apt and dnf, not dpkg -i and rpm -i: they bring the libraries the packages need.
    if [[ $format == deb ]]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}"
    else
      dnf install -y "${packages[@]}"
    fi
  fi
  # Units copied by an earlier development install would hide the packaged ones.
  for unit in drover-updater.service drover-updater-once.service drover-updater-once.timer drover-coordinator.service; do
    if [[ -f "$ROOT_DIR/etc/systemd/system/$unit" ]] && grep -q /usr/local/bin "$ROOT_DIR/etc/systemd/system/$unit"; then
      echo "install-host: warning: $ROOT_DIR/etc/systemd/system/$unit (a development install, running /usr/local/bin) overrides the packaged unit; remove it" >&2
    fi
  done
  install -d -m 0755 "$ROOT_DIR/etc/drover"
}

# A development build: build/bin copied to /usr/local/bin, units to /etc/systemd/system.
install_build() {
  local b
  for b in drover-updater drover-updater-pass; do
    [[ -x "$BIN_DIR/$b" ]] || die "$BIN_DIR/$b not built: run cmake --build build first"
  done
  install -d -m 0755 "$ROOT_DIR/usr/local/bin" "$ROOT_DIR/etc/systemd/system" "$ROOT_DIR/etc/drover"
  install -d -m 0700 "$ROOT_DIR/var/lib/drover-updater"
  # drover-updater runs drover-updater-pass from its own directory.
  install -m 0755 "$BIN_DIR/drover-updater" "$BIN_DIR/drover-updater-pass" "$ROOT_DIR/usr/local/bin/"
  install -m 0644 "$SRC/deploy/systemd/drover-updater.service" "$SRC/deploy/systemd/drover-updater-once.service" \
    "$SRC/deploy/systemd/drover-updater-once.timer" "$ROOT_DIR/etc/systemd/system/"
  if [[ $WITH_COORDINATOR -eq 1 ]]; then
    install -m 0755 "$BIN_DIR/drover-coordinator" "$ROOT_DIR/usr/local/bin/drover-coordinator"
    install -m 0644 "$SRC/deploy/systemd/drover-coordinator.service" "$ROOT_DIR/etc/systemd/system/"
    [[ -f "$ROOT_DIR/etc/drover/coordinator.env" ]] || \
      install -m 0600 /dev/stdin "$ROOT_DIR/etc/drover/coordinator.env" <<<"DROVER_DATABASE_URL=postgresql://drover@127.0.0.1:5432/drover"
    if [[ -z "$ROOT_DIR" ]] && ! id drover >/dev/null 2>&1; then
      useradd --system --no-create-home --shell /usr/sbin/nologin drover
    fi
  fi
}

if [[ -n "$PACKAGE_DIR" ]]; then
  install_packages
  UPDATER_BIN=/usr/bin/drover-updater
else
  install_build
  UPDATER_BIN=/usr/local/bin/drover-updater
fi

CONF="$ROOT_DIR/etc/drover/updater.conf"
if [[ -n "${ROOT_PUBLIC_KEY:-}" ]]; then
  install -d -m 0755 "$ROOT_DIR/etc/drover"
  install -m 0644 "$ROOT_PUBLIC_KEY" "$ROOT_DIR/etc/drover/root.pub"
fi
if [[ -f "$CONF" ]]; then
  echo "install-host: keeping existing $CONF"
else
  {
    echo "# drover-updater configuration (protobuf text format: proto/drover/v1/updater_config.proto)"
    echo "coordinator: \"$COORDINATOR\""
    echo "channel: \"$CHANNEL\""
    if [[ -n "$WATCH" ]]; then
      echo "watch: \"$WATCH\""
    else
      echo "# watch: \"HOST:PORT\"   # the coordinator's --watch_listen: pushed changes"
    fi
    echo "state_dir: \"/var/lib/drover-updater\""
    if [[ -n "${ROOT_PUBLIC_KEY:-}" ]]; then
      echo "root_public_key_file: \"/etc/drover/root.pub\""
    else
      echo "# Required: the pinned root public key of the coordinator's signed targets"
      echo "# (droverctl keys create-root), e.g. installed with --root-public-key=FILE:"
      echo "# root_public_key_file: \"/etc/drover/root.pub\""
    fi
    if [[ -n "$AGENT_CONFIG" ]]; then
      cat "$AGENT_CONFIG"
    else
      cat <<'TEMPLATE'
# Describe the agent to manage, then start the updater. For example:
# agent {
#   name: "teleport"
#   apt { source_list: "/etc/apt/sources.list.d/teleport.list" }
#   restart_command: ["systemctl", "try-restart", "teleport"]
#   health_check { http { url: "http://127.0.0.1:3000/readyz" } timeout { seconds: 5 } }
# }
TEMPLATE
    fi
  } | install -m 0600 /dev/stdin "$CONF"
fi

# The apt and dnf installers write under /usr and /etc, which the units keep
# read-only: their units get the packages drop-in; a tarball installer's not.
uses_packages() { grep -v '^[[:space:]]*#' "$CONF" | grep -Eq '(^|[^A-Za-z_])(apt|dnf)[[:space:]]*\{'; }
for unit in drover-updater.service drover-updater-once.service; do
  dropin="$ROOT_DIR/etc/systemd/system/$unit.d"
  if uses_packages; then
    install -d -m 0755 "$dropin"
    install -m 0644 "$SRC/deploy/systemd/drover-updater-packages.conf" "$dropin/50-packages.conf"
  else
    rm -f "$dropin/50-packages.conf"
  fi
done

if [[ -z "$AGENT_CONFIG" ]]; then
  START=0
  echo "install-host: edit $CONF (the agent section), re-run this script (an apt or dnf agent needs a unit drop-in), then: systemctl enable --now drover-updater"
fi
if [[ -n "$ROOT_DIR" || $START -eq 0 ]]; then
  echo "install-host: installed under ${ROOT_DIR:-/} (not started)"
  exit 0
fi
if [[ ! -d /run/systemd/system ]]; then
  echo "install-host: systemd is not running here; start it by hand: drover-updater run --config=$CONF" >&2
  exit 0
fi
# Refuse to enable a configuration the updater cannot read.
"$UPDATER_BIN" status --config="$CONF" >/dev/null || die "$CONF is not valid (see the message above)"
systemctl daemon-reload
if [[ "$MODE" == daemon ]]; then
  systemctl enable --now drover-updater.service
else
  systemctl enable --now drover-updater-once.timer
fi
echo "install-host: drover-updater enabled ($MODE)"
