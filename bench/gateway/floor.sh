#!/usr/bin/env bash
# The floor of a proxy hop on this machine: what a reverse proxy that does no work adds to a
# chat request, next to what belt adds. Three targets, same client (wrk + the shared chat.lua),
# same upstream (tests/fixtures/fake_upstream):
#   direct  wrk -> fake upstream
#   nginx   wrk -> nginx proxy_pass (HTTP/1.1, keepalive upstream pool, one worker per core,
#           access log off) -> fake upstream: a proxy hop with no work in it
#   belt    wrk -> belt serve (bench/gateway/belt-serve.sh: tracing on, default guards) -> fake
#   usage: bench/gateway/floor.sh [CONNS] [SECONDS] [REPS]      (defaults 1 5 3)
#   env:   BELT_BUILD (default ./build)
# Prints per target the median (min-max over REPS) of requests/s and of the p50 latency.
set -eu
. "$(dirname "$0")/lib.sh"
conns=${1:-1}; secs=${2:-5}; reps=${3:-3}
need_lua
command -v nginx > /dev/null || { echo "needs nginx (scripts/deps.sh --bench)"; exit 1; }
bench_init floor
start_fake
nport=$((20000 + RANDOM % 10000)); bport=$((30000 + RANDOM % 10000))
"$here/nginx-hop.sh" "$nport" 2 > "$tmp/nginx.out" 2>&1 & pids+=($!)
start_belt "$bport" 2
sleep 0.5

run() { # URL -> "rps p50_us"
  wrk -t$(( conns > 1 ? 2 : 1 )) -c"$conns" -d"${secs}s" -s "$lua" "$1" | grep RESULT |
    sed 's/.*requests=\([0-9]*\).*p50_us=\([0-9]*\).*/\1 \2/' |
    awk -v s="$secs" '{printf "%.0f %d\n", $1 / s, $2}'
}
med() { sort -n | awk '{v[NR]=$1} END{printf "%s (%s-%s)", v[int((NR+1)/2)], v[1], v[NR]}'; }

echo "load: $(cut -d' ' -f1-3 /proc/loadavg); $conns connection(s), $reps x ${secs}s"
declare -A url=([direct]="http://127.0.0.1:$fport/v1/chat/completions"
                [nginx]="http://127.0.0.1:$nport/v1/chat/completions"
                [belt]="http://127.0.0.1:$bport/v1/chat/completions")
for t in direct nginx belt; do wrk -t1 -c"$conns" -d1s -s "$lua" "${url[$t]}" > /dev/null; done
for r in $(seq "$reps"); do        # interleaved, so drift in load hits every target alike
  for t in direct nginx belt; do run "${url[$t]}" >> "$tmp/$t.txt"; done
done
for t in direct nginx belt; do
  printf "%-7s req/s %s   p50 us %s\n" "$t" "$(cut -d' ' -f1 "$tmp/$t.txt" | med)" \
    "$(cut -d' ' -f2 "$tmp/$t.txt" | med)"
done
