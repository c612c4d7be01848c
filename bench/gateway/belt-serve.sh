#!/usr/bin/env bash
# Start `belt serve` for the peer benchmark (../shared/bench/peers/run.sh, target `custom`):
# one model, gpt-4o-mini, proxied to the benchmark's fake upstream ($FAKE_URL), tracing on.
#   usage: belt-serve.sh PORT [THREADS]      (env: BELT_BIN, BELT_BENCH_DIR)
set -eu
port=${1:?port}
threads=${2:-2}
bin=${BELT_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/belt}
dir=${BELT_BENCH_DIR:-$(mktemp -d /tmp/belt-bench.XXXXXX)}
mkdir -p "$dir"
cat > "$dir/belt.yaml" <<YAML
store: { path: $dir/belt.db }
models:
  gpt-4o-mini:
    provider: openai
    base_url: "${FAKE_URL:?FAKE_URL is set by run.sh}"
    model: gpt-4o-mini
    price: { input: 0.15, output: 0.60 }
server:
  listen: "127.0.0.1:$port"
  threads: $threads
  trace: ${BELT_TRACE:-true}
  reuseport: ${BELT_REUSEPORT:-true}
guard:
  keys: { required: false }         # peers run without API keys; guards keep their defaults
${BELT_GUARD_EXTRA:-}
YAML
exec "$bin" -c "$dir/belt.yaml" serve
