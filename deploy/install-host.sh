#!/usr/bin/env bash
# Installs drover-updater (and optionally the coordinator) on a host:
# binaries, systemd units, a config to edit, and the state directory.
#
#   deploy/install-host.sh --coordinator=HOST:PORT --channel=ID [--agent-config=FILE]
#                          [--mode=daemon|timer] [--with-coordinator] [--root=DIR] [--no-start]
#                          [--root-public-key=FILE] [--watch=HOST:PORT]
#
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
    --with-coordinator) WITH_COORDINATOR=1 ;;
    --no-start) START=0 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
/usr/local/bin/drover-updater status --config="$CONF" >/dev/null || die "$CONF is not valid (see the message above)"
systemctl daemon-reload
if [[ "$MODE" == daemon ]]; then
  systemctl enable --now drover-updater.service
else
  systemctl enable --now drover-updater-once.timer
fi
echo "install-host: drover-updater enabled ($MODE)"
