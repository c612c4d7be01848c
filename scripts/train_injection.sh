#!/usr/bin/env bash
# Build the prompt-injection models the guard ships (models/injection-user.belt and
# models/injection-third-party.belt) from the shared data, reproducibly (one training thread,
# fixed seed), and print their cross-validated figures. See docs/governance.md.
#
#   scripts/train_injection.sh [BELT_BIN] [SHARED_DIR] [OUT_DIR]
#
# Defaults: build/belt, ../shared (next to the repository), models/.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
belt=${1:-$top/build/belt}
shared=${2:-$top/../shared}
out=${3:-$top/models}
data=$shared/data/injection
for f in deepset_train.jsonl bipia_email_train.jsonl; do
  [ -r "$data/$f" ] || { echo "train_injection.sh: missing $data/$f" >&2; exit 1; }
done
[ -x "$belt" ] || { echo "train_injection.sh: no belt binary at $belt" >&2; exit 1; }
mkdir -p "$out"
common=(--threads 1 --seed 1)

# User input: deepset (direct injections and jailbreaks, English and German); benign e-mails
# from BIPIA teach it that an ordinary document pasted by a user is not an attack.
"$belt" guard train --data "$data/deepset_train.jsonl" \
  --extra "$data/bipia_email_train.jsonl" --extra-label benign \
  --out "$out/injection-user.belt" --q8 "${common[@]}"

# Third-party text: BIPIA (instructions hidden in e-mails); benign deepset prompts as further
# negatives so that ordinary language is not taken for an attack.
"$belt" guard train --data "$data/bipia_email_train.jsonl" \
  --extra "$data/deepset_train.jsonl" --extra-label benign \
  --out "$out/injection-third-party.belt" --q8 "${common[@]}"

ls -l "$out"/injection-*.belt
if [ "${EVAL:-1}" = 1 ]; then
  echo "== user input: deepset_train, grouped 5-fold CV"
  "$belt" guard eval --data "$data/deepset_train.jsonl" --source user \
    --extra "$data/bipia_email_train.jsonl" --extra-label benign "${common[@]}"
  echo "== third-party text: bipia_email_train, grouped 5-fold CV"
  "$belt" guard eval --data "$data/bipia_email_train.jsonl" --source third_party \
    --extra "$data/deepset_train.jsonl" --extra-label benign "${common[@]}"
fi
