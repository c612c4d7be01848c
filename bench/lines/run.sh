#!/usr/bin/env bash
# Throughput of a line of local stations (classify + extract by rules + redact + validate) on
# 100,000 generated support tickets, items/s and peak RSS, with 1 and 2 threads; then the
# executor's own overhead per station (bench_line).
#   bench/lines/run.sh          # REPS=5 N=100000 WORK=/tmp/belt-bench-lines BELT_BIN=build/belt
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
belt=${BELT_BIN:-$top/build/belt}
bench_line=${BENCH_LINE:-$(dirname "$belt")/bench/bench_line}
reps=${REPS:-5}
n=${N:-100000}
work=${WORK:-/tmp/belt-bench-lines}
mkdir -p "$work"
cp "$top/bench/lines/belt.yaml" "$work/belt.yaml"
cd "$work"
if [ ! -s tickets.jsonl ] || [ "$(wc -l < tickets.jsonl)" -ne "$n" ]; then
    python3 "$top/examples/support/gen_tickets.py" --out "$work" --tickets "$n" --train 6000 >/dev/null
fi
[ -s intent.belt ] || "$belt" -c belt.yaml train --data intent_train.jsonl --dev intent_dev.jsonl \
    -o intent.belt --quantize --quiet
echo "load: $(cat /proc/loadavg)"
echo "input: $n tickets, $(du -h tickets.jsonl | cut -f1)"
for threads in 1 2; do
    rates=() rss=()
    for _ in $(seq "$reps"); do
        rm -f bench.db bench.db-wal bench.db-shm out.jsonl
        /usr/bin/time -f "%e %M" -o time.txt "$belt" -c belt.yaml run local -i tickets.jsonl \
            -o out.jsonl --threads "$threads" -q --summary-json summary.json
        read -r secs kb < time.txt
        rates+=("$(python3 -c "print(round($n / $secs))")")
        rss+=("$((kb / 1024))")
    done
    python3 - "$threads" "${rates[*]}" "${rss[*]}" <<'PY'
import statistics, sys
t, rates, rss = sys.argv[1], [int(x) for x in sys.argv[2].split()], [int(x) for x in sys.argv[3].split()]
print("threads %s: %s items/s median (%s-%s), peak RSS %s MB median (%s-%s), wall incl. start-up"
      % (t, format(int(statistics.median(rates)), ","), format(min(rates), ","),
         format(max(rates), ","), int(statistics.median(rss)), min(rss), max(rss)))
PY
done
echo "load: $(cat /proc/loadavg)"
[ -x "$bench_line" ] && "$bench_line" "$reps" 200000
