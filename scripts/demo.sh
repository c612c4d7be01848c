#!/usr/bin/env bash
# The main job of the README: a support-ticket line (examples/support) end to end.
#   1. install dependencies and build the release flavour;
#   2. generate 2000 support tickets with gold labels, and the training sets (seeded);
#   3. train the three local models (relevance, intent, complexity) and index the help centre;
#   4. run the line over the tickets and print the summary (accuracy against the gold labels).
# Without OPENAI_API_KEY the LLM stations escalate to the review queue and the summary says how
# many; with it (and OPENAI_BASE_URL for another OpenAI-compatible server, e.g. Ollama at
# http://localhost:11434/v1 with SUPPORT_SMALL_MODEL / SUPPORT_FRONTIER_MODEL) they are live.
# Idempotent: run it again and it rebuilds what changed, regenerates the same data, retrains and
# runs the line afresh (model answers come from the station cache the second time).
# Work files go to examples/support/data/ (git-ignored). BELT_BIN=path/to/belt skips the build.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${BELT_BIN:-}" ]; then    # a belt binary built elsewhere (tests, other build dirs)
    belt="$BELT_BIN"
else
    bash "$top/scripts/deps.sh"
    bash "$top/scripts/build.sh" release >/dev/null
    belt="$top/build/belt"
fi
ex="$top/examples/support"
data="$ex/data"
export BELT_CONFIG="$ex/belt.yaml"

echo "== generate tickets and training data"
python3 "$ex/gen_tickets.py" --out "$data"

echo "== train the local models"
for m in relevance intent complexity; do
    "$belt" train --data "$data/${m}_train.jsonl" --dev "$data/${m}_dev.jsonl" \
        -o "$data/$m.belt" --name "support-$m" --quantize
done

echo "== index the help centre"
"$belt" index --corpus kb "$data/kb.jsonl"

echo "== belt run support (summary below; every ticket's path is in $data/out.jsonl)"
set +e
"$belt" run support --input "$data/tickets.jsonl" --output "$data/out.jsonl" --overwrite \
    --gold gold_relevance=relevance --gold gold_intent=intent \
    --gold gold_order_id=fields.order_id --gold gold_refund_usd=refund.refund_usd \
    --gold gold_complexity=complexity --summary-json "$data/summary.json"
rc=$?
set -e
echo
echo "== one ticket as it left the line"
python3 - "$data/out.jsonl" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("refund") and r["_belt"]["status"] == "needs_review":
        path = " -> ".join("%s:%s" % (s["station"], s["status"]) for s in r["_belt"]["path"])
        print("%s  %s\n  intent %s, refund %s, status %s (%s)\n  path: %s" % (
            r["id"], r["text"][:100], r.get("intent"), r.get("refund"), r["_belt"]["status"],
            r["_belt"].get("reason", ""), path))
        break
EOF
echo
echo "next: 'belt -c $BELT_CONFIG review list' shows the parked tickets; decide them with"
echo "'belt review approve|reject ID', then 'belt -c $BELT_CONFIG run support --reviewed -o decided.jsonl'"
exit $rc
