#!/usr/bin/env bash
# belt's text classifier side by side with fastText 0.9.2 on CLINC150 and Banking77.
#
# usage: bench/classifier/run.sh [DATASET_DIR ...]     (default: ../shared/data/clinc150 banking77)
# env:   REPS=3  THREADS=2  PRED_LINES=100000  WORK=/tmp/belt-bench-classifier
#        BELT=build/belt (the release build)  FT_CONFIG=w2c (fastText's best config here)
#        SKIP_FASTTEXT=1 to rerun belt only;  BELT_TRAIN_ARGS="..." extra `belt train` options
#
# Same splits for both: a data set without dev.jsonl (Banking77) gets one carved from train by
# a fixed rule (split.py: every 10th example of each label, in file order); both tools train on
# the rest and see the same dev and test files. fastText runs through the shared
# ../shared/bench/fasttext/run.sh (its preprocessing, timing and scoring); belt gets the raw
# JSONL (it normalises text itself) and is timed the same way: train wall time and peak RSS,
# model size, predict lines/s over PRED_LINES lines including model load (JSONL in, JSONL out),
# accuracy/macro-F1 scored by ftbench.py, and the cascade metric: the threshold is chosen on dev
# (largest coverage whose Wilson lower bound at z = 1 of accuracy is >= 95%, the rule belt train
# uses) and applied to test. Medians of REPS runs. Needs: fasttext, python3, /usr/bin/time.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
SHARED=$(cd "$TOP/../shared" && pwd)
REPS=${REPS:-3}
THREADS=${THREADS:-2}
PRED_LINES=${PRED_LINES:-100000}
WORK=${WORK:-/tmp/belt-bench-classifier}
BELT=${BELT:-$TOP/build/belt}
FT_CONFIG=${FT_CONFIG:-w2c}
PY="python3 $HERE/bench.py"
[ -x "$BELT" ] || { echo "run.sh: no belt binary at $BELT (scripts/build.sh release)" >&2; exit 1; }
if [ $# -eq 0 ]; then set -- "$SHARED/data/clinc150" "$SHARED/data/banking77"; fi
mkdir -p "$WORK"
RESULTS=$WORK/results.jsonl
: > "$RESULTS"
echo "# $(date -u +%FT%TZ) belt=$($BELT --version) nproc=$(nproc) load=$(cut -d' ' -f1-3 /proc/loadavg)" | tee "$WORK/env.txt" >&2
now() { date +%s.%N; }

dirs=()
for D in "$@"; do
  name=$(basename "$D"); S="$WORK/data/$name"; mkdir -p "$S"
  $PY split "$D" "$S"               # copies or carves train/dev, links test
  dirs+=("$S")
done

# 1. fastText through the shared script (same data dirs).
if [ -z "${SKIP_FASTTEXT:-}" ]; then
  FTW="$WORK/fasttext"; mkdir -p "$FTW"; rm -f "$FTW/results.jsonl"
  WORK="$FTW" RESULTS="$FTW/results.jsonl" REPS=$REPS THREADS=$THREADS \
    PRED_LINES=$PRED_LINES CONFIGS=$FT_CONFIG bash "$SHARED/bench/fasttext/run.sh" "${dirs[@]}" \
    > "$WORK/fasttext.md"
fi

# 2. belt, same measurements.
for S in "${dirs[@]}"; do
  name=$(basename "$S"); W="$WORK/belt/$name"; mkdir -p "$W"
  $PY repeat "$S/test.jsonl" "$PRED_LINES" > "$W/bench.jsonl"
  for r in $(seq "$REPS"); do
    M="$W/m.r$r.belt"
    t0=$(now)
    ( cd "$W" && /usr/bin/time -f '%M' -o "$M.train.time" "$BELT" train --quiet \
        --data "$S/train.jsonl" --dev "$S/dev.jsonl" -o "$M" --quantize -t "$THREADS" \
        --seed "$r" --name "bench-$name" ${BELT_TRAIN_ARGS:-} )
    t1=$(now)
    "$BELT" predict -m "$M" -k 1 < "$S/test.jsonl" > "$M.test.jsonl"
    "$BELT" predict -m "$M" -k 1 < "$S/dev.jsonl" > "$M.dev.jsonl"
    t2=$(now)
    /usr/bin/time -f '%M' -o "$M.pred.time" "$BELT" predict -m "$M" < "$W/bench.jsonl" > /dev/null
    t3=$(now)
    $PY record belt "$name" "$r" "$S" "$M" "$t0" "$t1" "$t2" "$t3" "$PRED_LINES" "$THREADS" >> "$RESULTS"
  done
done

# 3. fastText's cascade metric on its kept model, then the side-by-side table.
if [ -z "${SKIP_FASTTEXT:-}" ]; then
  for S in "${dirs[@]}"; do
    name=$(basename "$S"); F="$WORK/fasttext/$name"
    for r in $(seq "$REPS"); do
      [ -f "$F/$FT_CONFIG.r$r.bin" ] || continue
      fasttext predict-prob "$F/$FT_CONFIG.r$r.bin" "$F/dev.nolabel.txt" 1 > "$F/$FT_CONFIG.r$r.dev.pred"
    done
  done
  $PY fasttext "$WORK/fasttext/results.jsonl" "$WORK/fasttext" "$FT_CONFIG" "${dirs[@]}" >> "$RESULTS"
fi
$PY summarize "$RESULTS" | tee "$WORK/summary.md"
