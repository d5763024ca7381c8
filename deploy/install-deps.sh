#!/usr/bin/env bash
# Installs what Drover needs to build, test and run, from Debian's packages.
# Installs only what is missing; safe to run again. Needs root (or sudo).
set -euo pipefail

PACKAGES=(
  cmake g++ make pkg-config git python3 curl ca-certificates
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libpqxx-dev prometheus-cpp-dev libabsl-dev libgtest-dev libssl-dev libcurl4-openssl-dev libevent-dev nlohmann-json3-dev
  # drover-updater's tarball installer unpacks with libarchive.
  libarchive-dev
  postgresql prometheus
  # drover-updater's apt/dnf installers and their test fixtures (signed local repositories).
  dnf rpm createrepo-c reprepro apt-utils gnupg dpkg-dev
  # bench/version_server.sh's HTTP load generator.
  wrk
  # deploy/packages.sh: CPack finds the libraries of the .deb's Depends with
  # dpkg-shlibdeps (dpkg-dev) and `file`; rpmbuild comes with rpm.
  file
  # The libFuzzer harnesses (tests/fuzz.sh): clang and its sanitizer runtimes.
  clang-14 libclang-rt-14-dev
  # tests/run.sh links the sanitizer builds with lld (five times faster).
  lld
  # The image verifier's tests (agent-updater/oci/): a real OCI registry (distribution 2.8).
  docker-registry
  # deploy/images/build.sh: OCI images built from scratch without a Docker
  # engine (buildah), pushed (skopeo); tests/e2e/images_test.sh unpacks them (umoci).
  buildah skopeo umoci
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# tests/e2e/kubernetes_manifests_test.sh runs a Node.js validator; Debian 12's
# nodejs (18) is too old for it, so Node.js 20+ with npm must come from elsewhere.
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 20 ? 1 : 0)' 2>/dev/null || ! command -v npm >/dev/null; then
  echo "install-deps: note: Node.js 20+ with npm not found; the Kubernetes manifest test needs them" >&2
fi
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo -n"  # never prompt: CI has no terminal
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Keep the packaged PostgreSQL and Prometheus services from starting: Drover
# runs its own instances under directories it owns.
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done" >&2
