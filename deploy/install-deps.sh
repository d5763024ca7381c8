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
  # deploy/packages.sh: CPack finds the libraries of the .deb's Depends with
  # dpkg-shlibdeps (dpkg-dev) and `file`; rpmbuild comes with rpm.
  file
  # The libFuzzer harnesses (tests/fuzz.sh): clang and its sanitizer runtimes.
  clang-14 libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
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
