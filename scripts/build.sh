#!/usr/bin/env bash
# Configure and build one flavour of belt.
#   scripts/build.sh [release|asan|tsan]   (default release)   -> build/, build-asan/, build-tsan/
# Warnings are errors in every flavour.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
flavour=${1:-release}
jobs=$(nproc 2>/dev/null || echo 2)
case "$flavour" in
  release) dir=build;      extra=(-DCMAKE_BUILD_TYPE=RelWithDebInfo) ;;
  asan)    dir=build-asan; extra=(-DCMAKE_BUILD_TYPE=Debug "-DBELT_SANITIZE=address,undefined") ;;
  tsan)    dir=build-tsan; extra=(-DCMAKE_BUILD_TYPE=Debug -DBELT_SANITIZE=thread) ;;
  *) echo "usage: scripts/build.sh [release|asan|tsan]" >&2; exit 2 ;;
esac
cmake -S "$top" -B "$top/$dir" -DBELT_WERROR=ON "${extra[@]}" >/dev/null
cmake --build "$top/$dir" -j "$jobs"
echo "$top/$dir"
