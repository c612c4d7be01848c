#!/usr/bin/env bash
# Start `belt serve` for the peer benchmark (../shared/bench/peers/run.sh, target `custom`):
# one model, gpt-4o-mini, proxied to the benchmark's fake upstream ($FAKE_URL), tracing on.
#   usage: belt-serve.sh PORT [THREADS]      (env: BELT_BIN, BELT_BENCH_DIR)
#   env:   BELT_TRACE=false (no trace rows), BELT_TRACE_RETENTION=10s (server.trace_retention;
#          default 0: traces kept), BELT_REUSEPORT=false, BELT_GUARDS=off (no injection
#          guard, no PII redaction). With both off, what is left is the proxy core: evhttp, the
#          request's JSON, libcurl, the answer's usage and cost, the audit row. The peer benchmark
#          cannot put variables before CMD; use env: "env BELT_TRACE=false ... belt-serve.sh ..."
set -eu
port=${1:?port}
threads=${2:-2}
bin=${BELT_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/build/belt}
# One directory per port, emptied at the start: belt is exec'd (so the benchmark measures its
# process alone), which leaves nothing to remove the trace database (~1 KB a request) at the end.
dir=${BELT_BENCH_DIR:-/tmp/belt-bench-$port}
[ -n "${BELT_BENCH_DIR:-}" ] || rm -rf "$dir"
if [ "${BELT_GUARDS:-default}" = off ]; then
  BELT_GUARD_EXTRA='  pii: { action: none }
  injection: { rules: false, user: { action: none, model: none }, third_party: { action: none, model: none } }'
fi
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
  trace_retention: ${BELT_TRACE_RETENTION:-0}
  reuseport: ${BELT_REUSEPORT:-true}
guard:
  keys: { required: false }         # peers run without API keys; guards keep their defaults
${BELT_GUARD_EXTRA:-}
YAML
exec "$bin" -c "$dir/belt.yaml" serve
