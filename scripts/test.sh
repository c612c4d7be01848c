#!/usr/bin/env bash
# Set up a fresh machine and run every test: install packages, build the release flavour and
# run the suite, then build with ASan+UBSan and run the suite again.
#   scripts/test.sh            everything (what CI runs)
#   scripts/test.sh --fast     release build only
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"
jobs=$(nproc 2>/dev/null || echo 2)
run_suite() {
  local dir=$1
  echo "== ctest in $dir"
  ctest --test-dir "$top/$dir" -j "$jobs" --output-on-failure --timeout 900
}
"$top/scripts/build.sh" release
run_suite build
if [ "${1:-}" != "--fast" ]; then
  "$top/scripts/build.sh" asan
  run_suite build-asan
fi
echo "all tests passed"
