#!/usr/bin/env bash
# Builds Drover's packages: drover-coordinator, droverctl and drover-updater,
# each as a .deb and an .rpm (CPack; cmake/packaging.cmake says what goes
# where). Prints the path of each package made, one per line, on stdout.
#
#   deploy/packages.sh [--build-dir=DIR] [--output=DIR] [--format=deb|rpm|all] [--no-build]
#
# --build-dir: the CMake build tree (default $DROVER_BUILD_DIR or ./build);
#   configured (RelWithDebInfo) when it is not yet.
# --output: where the packages go (default BUILD_DIR/packages).
# --no-build: package the binaries already built there (fails if one is missing).
# The .rpm needs rpmbuild (Debian: the `rpm` package, deploy/install-deps.sh).
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${DROVER_BUILD_DIR:-$SRC/build}
OUT=""
FORMAT=all
BUILD_FIRST=1
TARGETS=(drover-coordinator droverctl drover-artifact drover-updater drover-updater-pass)

die() { echo "packages: $*" >&2; exit 2; }
for arg in "$@"; do
  case "$arg" in
    --build-dir=*) BUILD=$(realpath -m "${arg#*=}") ;;
    --output=*) OUT=$(realpath -m "${arg#*=}") ;;
    --format=*) FORMAT=${arg#*=} ;;
    --no-build) BUILD_FIRST=0 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$arg' (see --help)" ;;
  esac
done
case "$FORMAT" in
  deb) GENERATORS=(DEB) ;;
  rpm) GENERATORS=(RPM) ;;
  all) GENERATORS=(DEB RPM) ;;
  *) die "--format '$FORMAT' is not deb, rpm or all" ;;
esac
OUT=${OUT:-$BUILD/packages}
for g in "${GENERATORS[@]}"; do
  if [[ $g == RPM ]] && ! command -v rpmbuild >/dev/null; then
    die "rpmbuild not found: install it (apt-get install rpm) or use --format=deb"
  fi
  if [[ $g == DEB ]] && ! command -v dpkg-shlibdeps >/dev/null; then
    die "dpkg-shlibdeps not found: install dpkg-dev"
  fi
done

if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  [[ $BUILD_FIRST -eq 1 ]] || die "$BUILD is not a configured build tree (drop --no-build, or pass --build-dir)"
  cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
elif [[ ! -f "$BUILD/CPackConfig.cmake" ]]; then
  # A tree configured before packaging existed: its cache is kept as it is.
  cmake "$BUILD" >&2
fi
if [[ $BUILD_FIRST -eq 1 ]]; then
  cmake --build "$BUILD" -j"$(nproc)" --target "${TARGETS[@]}" >&2
else
  for t in "${TARGETS[@]}"; do
    [[ -x "$BUILD/bin/$t" ]] || die "$BUILD/bin/$t is not built (drop --no-build)"
  done
fi

mkdir -p "$OUT"
made=()
for g in "${GENERATORS[@]}"; do
  log=$(cd "$BUILD" && cpack --config CPackConfig.cmake -G "$g" -B "$OUT" 2>&1) || {
    echo "$log" >&2
    die "cpack -G $g failed (its output is above)"
  }
  # "CPack: - package: /path/x.deb generated."
  while IFS= read -r p; do made+=("$p"); done < <(sed -n 's/^CPack: - package: \(.*\) generated\.$/\1/p' <<<"$log")
done
[[ ${#made[@]} -gt 0 ]] || die "cpack reported no package"
# cpack's staging trees are not worth keeping.
rm -rf "$OUT/_CPack_Packages"
printf '%s\n' "${made[@]}"
