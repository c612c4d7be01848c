#!/usr/bin/env bash
# Routing benchmark: see bench/README.md#routes and bench/routes/bench.py.
#   bench/routes/run.sh          # BELT_BUILD=build WORK=/tmp/belt-bench-routes SEEDS=5
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
exec python3 "$here/bench.py" "$@"
