#!/usr/bin/env bash
# The main job of the README: install dependencies, build the release flavour, generate the
# example support-ticket intents, train a classifier on them and evaluate it.
# Idempotent: run it again and it rebuilds what changed, regenerates the same data and retrains.
# Work files (model, store) go to out/demo/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bash "$top/scripts/deps.sh"
bash "$top/scripts/build.sh" release >/dev/null
belt="$top/build/belt"
data="$top/examples/intents/data"
work="$top/out/demo"
mkdir -p "$work"
python3 "$top/examples/intents/gen_intents.py" --out "$data"
cd "$work"            # the default configuration keeps its store (belt.db) here
export BELT_CONFIG=""
echo "== belt train"
"$belt" train --data "$data/train.jsonl" --dev "$data/dev.jsonl" -o "$work/intents.belt" \
    --name intents --quantize
echo "== belt eval"
"$belt" eval -m "$work/intents.belt" "$data/test.jsonl" --name intents
echo "== belt predict (threshold chosen on dev: below it, the ticket escalates)"
printf '%s\n' '{"id": 1, "text": "hi, my blender arrived with a cracked lid"}' \
    '{"id": 2, "text": "I was billed twice for order #48213!!"}' \
    '{"id": 3, "text": "can you tell me a joke"}' |
    "$belt" predict -m "$work/intents.belt" --threshold dev --top-k 2
echo "== done: model $work/intents.belt, store $work/belt.db ($("$belt" models | wc -l) models registered)"
