#!/usr/bin/env bash
# A soak run: wrk against `belt serve` (bench/gateway/belt-serve.sh) and the repo's fake upstream
# for SECONDS, printing every 5 s belt's resident size (anonymous / file-backed), the traces and
# audit rows in its store and the store's size; at the end requests/s and CPU per request.
# What it is for: a resident size that creeps, and a store that grows (server.trace_retention).
#   usage: bench/gateway/soak.sh [SECONDS] [CONNS]        (defaults 60 64)
#   env:   BELT_BUILD (default ./build), THREADS (default 2), and belt-serve.sh's knobs
#          (BELT_TRACE_RETENTION=10s, BELT_TRACE=false, BELT_GUARDS=off)
set -eu
. "$(dirname "$0")/lib.sh"
secs=${1:-60}; conns=${2:-64}
need_lua
command -v sqlite3 > /dev/null || { echo "needs sqlite3 (scripts/deps.sh)"; exit 1; }
bench_init soak
start_fake
port=$((20000 + RANDOM % 20000))
start_belt "$port" "${THREADS:-2}"
db=$tmp/belt/belt.db
echo "load: $(cut -d' ' -f1-3 /proc/loadavg); $conns connections for ${secs}s"
c0=$(awk '{print $14 + $15}' "/proc/$bpid/stat")
wrk -t2 -c"$conns" -d"${secs}s" -s "$lua" "http://127.0.0.1:$port/v1/chat/completions" \
    > "$tmp/wrk.out" 2>&1 & wpid=$!
for t in $(seq 5 5 "$secs"); do
  sleep 5
  rss=$(awk '/^(RssAnon|RssFile):/{printf "%s %.1f MB  ", $1, $2 / 1024}' "/proc/$bpid/status")
  rows=$(sqlite3 "$db" "select (select count(*) from traces) || ' traces, ' ||
                        (select count(*) from audit) || ' audit rows'" 2>/dev/null || echo "busy")
  size=$(du -cm "$db"* 2>/dev/null | awk 'END{print $1}')
  echo "t=${t}s  $rss $rows, store ${size} MB"
done
wait "$wpid"
c1=$(awk '{print $14 + $15}' "/proc/$bpid/stat")
n=$(grep RESULT "$tmp/wrk.out" | sed 's/.*requests=\([0-9]*\).*/\1/')
awk -v n="$n" -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v s="$secs" \
  'BEGIN{printf "%.0f requests/s, %.1f us CPU/request\n", n / s, c / hz * 1e6 / n}'
grep VmHWM "/proc/$bpid/status"
