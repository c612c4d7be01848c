#!/usr/bin/env bash
# Gateway CPU per proxied request: start the fake upstream (tests/fixtures/fake_upstream) and
# `belt serve` (bench/gateway/belt-serve.sh), drive it with wrk, and divide the CPU time belt
# used (utime + stime of the process, all threads, from /proc) by the requests served.
#   usage: bench/gateway/cpu.sh [CONNS] [SECONDS] [REPS] [extra belt serve args...]
#   env:   BELT_BUILD (default ./build), THREADS (belt loops, default 2),
#          GUARDS=off (no injection guard, no PII redaction; default: the guards' defaults)
set -eu
. "$(dirname "$0")/lib.sh"
conns=${1:-64}; secs=${2:-10}; reps=${3:-3}; shift $(( $# > 3 ? 3 : $# )) || true
need_lua
bench_init cpu
start_fake
port=$((20000 + RANDOM % 20000))
if [ "${GUARDS:-default}" = off ]; then export BELT_GUARDS=off; fi
start_belt "$port" "${THREADS:-2}"
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$bpid/stat"; }
wcpu() { for t in /proc/$bpid/task/*; do grep -qx belt-writer "$t/comm" && awk '{print $14 + $15}' "$t/stat"; done; true; }
url="http://127.0.0.1:$port/v1/chat/completions"
wrk -t2 -c16 -d2s -s "$lua" "$url" > /dev/null 2>&1   # warm-up
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$reps"); do
  t=2; [ "$conns" -lt 2 ] && t=1
  c0=$(cpu); w0=$(wcpu)
  out=$(wrk -t$t -c"$conns" -d"${secs}s" -s "$lua" "$url" | grep RESULT)
  c1=$(cpu); w1=$(wcpu)
  n=$(echo "$out" | sed 's/.*requests=\([0-9]*\).*/\1/')
  p50=$(echo "$out" | sed 's/.*p50_us=\([0-9]*\).*/\1/')
  bad=$(echo "$out" | sed 's/.*err_status=\([0-9]*\).*/\1/')
  awk -v n="$n" -v c="$((c1 - c0))" -v w="$((w1 - w0))" -v hz="$ticks" -v r="$r" -v s="$secs" \
    -v p="$p50" -v b="$bad" 'BEGIN{printf "rep %d: %d requests (%.0f/s), p50 %d us, non-2xx %d, belt CPU %.2f s, %.1f us CPU/request (writer thread %.1f)\n", r, n, n/s, p, b, c/hz, c/hz*1e6/n, w/hz*1e6/n}'
done
grep -E 'VmHWM' "/proc/$bpid/status"
