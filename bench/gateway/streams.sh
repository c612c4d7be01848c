#!/usr/bin/env bash
# 5,000 concurrent streaming requests through `belt serve`, each streamed by the fake upstream
# for 1 s: all must complete; reports completion times, peak streams in flight and belt's peak
# RSS. Raises the open-file limit (each stream needs a client, a gateway and an upstream socket).
#   usage: bench/gateway/streams.sh [N] [STREAM_MS] [CHUNKS]
#   env:   BELT_BUILD (default ./build), THREADS (belt loops, default 2), RAMP_MS (default 0)
set -eu
. "$(dirname "$0")/lib.sh"
n=${1:-5000}; ms=${2:-1000}; chunks=${3:-10}
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge $((2 * n + 100)) ] || { echo "need ulimit -n >= $((2 * n + 100)), have $(ulimit -n)"; exit 1; }
bench_init streams
start_fake
fake=$FAKE_URL
cat > "$tmp/belt.yaml" <<YAML
store: { path: $tmp/belt.db }
models:
  stream: { provider: openai, base_url: "$fake", model: "fake+chunks=$chunks+stream_ms=$ms",
            timeout: 30s, price: { input: 0.15, output: 0.60 } }
server: { listen: "127.0.0.1:0", threads: ${THREADS:-2}, max_inflight: 100000 }
guard: { keys: { required: false } }
YAML
"$build/belt" -c "$tmp/belt.yaml" serve > "$tmp/belt.out" 2> "$tmp/belt.err" & bpid=$!; pids+=($bpid)
wait_line "$tmp/belt.out" listening || { echo "belt serve did not start"; cat "$tmp/belt.err"; exit 1; }
port=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' "$tmp/belt.out")
echo "load: $(cut -d' ' -f1-3 /proc/loadavg); belt idle RSS $(awk '/VmRSS/{print $2}' /proc/$bpid/status) kB"
cpu0=$(awk '{print $14 + $15}' "/proc/$bpid/stat")
"$build/bench/bench_gateway_streams" --port "$port" --n "$n" --model stream --pid "$bpid" \
    --timeout-s 120 --ramp-ms "${RAMP_MS:-0}"
rc=$?
cpu1=$(awk '{print $14 + $15}' "/proc/$bpid/stat")
awk -v t=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" -v n="$n" \
    'BEGIN{printf "belt CPU during the run %.2f s (%.0f us per stream)\n", t/hz, t/hz*1e6/n}'
sleep 1
echo "traces written: $(sqlite3 "$tmp/belt.db" 'select count(*) from traces' 2>/dev/null || echo '?')"
curl -s "127.0.0.1:$port/metrics" | grep -E '^belt_(stream_errors_total|client_disconnects_total|inflight_requests)'
exit $rc
