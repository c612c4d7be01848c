#!/usr/bin/env bash
# Build the prompt-injection models the guard ships (models/injection-user.belt and
# models/injection-third-party.belt) from the shared data plus generated benign texts,
# reproducibly (one training thread, fixed seeds), and print their figures. See
# docs/governance.md ("Classifiers", "Measured").
#
#   scripts/train_injection.sh [BELT_BIN] [SHARED_DIR] [OUT_DIR]
#
# Defaults: build/belt, ../shared (next to the repository), models/. EVAL=0 skips the figures.
#
# Generated benign texts (scripts/gen_benign_prompts.py, seed 1) are TRAINING data only: the
# cross-validation below builds its folds on the shared files alone and adds the generated
# texts to the training part of each fold (--extra), so the precision / recall / FPR it prints
# are measured on shared data only. The generator's held-out files (templates the training
# files never use) and the hand-written everyday lists in tests/cases/ give the false-positive
# rate on ordinary traffic.
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
command -v python3 > /dev/null || { echo "train_injection.sh: needs python3" >&2; exit 1; }
mkdir -p "$out"
gen=$(mktemp -d "${TMPDIR:-/tmp}/belt-benign.XXXXXX")
trap 'rm -rf "$gen"' EXIT
python3 "$top/scripts/gen_benign_prompts.py" --out "$gen" --seed 1
common=(--threads 1 --seed 1)

# User input: deepset (direct injections and jailbreaks, English and German) against its
# benign prompts, the benign BIPIA e-mails and the generated everyday prompts and documents
# (a user pasting an e-mail or a README is not an attack).
user_extra=(--extra "$data/bipia_email_train.jsonl" --extra "$gen/user_train.jsonl"
            --extra "$gen/third_party_train.jsonl" --extra-label benign)
"$belt" guard train --data "$data/deepset_train.jsonl" "${user_extra[@]}" \
  --out "$out/injection-user.belt" --q8 "${common[@]}"

# Third-party text: BIPIA (instructions hidden in e-mails) against benign e-mails and the
# generated documents and tool outputs whose requests address their human reader. deepset's
# benign prompts are not used here: BIPIA inserts exactly such questions into e-mails as attacks.
tp_extra=(--extra "$gen/third_party_train.jsonl" --extra-label benign)
"$belt" guard train --data "$data/bipia_email_train.jsonl" "${tp_extra[@]}" \
  --out "$out/injection-third-party.belt" --q8 "${common[@]}"

ls -l "$out"/injection-*.belt
[ "${EVAL:-1}" = 1 ] || exit 0

echo "== user input: deepset_train, grouped 5-fold CV (generated texts in training folds only)"
"$belt" guard eval --data "$data/deepset_train.jsonl" --source user "${user_extra[@]}" "${common[@]}"
echo "== third-party text: bipia_email_train, grouped 5-fold CV (same)"
"$belt" guard eval --data "$data/bipia_email_train.jsonl" --source third_party "${tp_extra[@]}" \
  "${common[@]}"

# False alarms on ordinary traffic with the shipped models and default thresholds: detected
# (flagged or blocked) and blocked, per file.
alarms() { # SOURCE MODEL FILE
  "$belt" guard scan --source "$1" --model "$2" --json --text-field text < "$3" |
    awk -v f="$(basename "$3")" -v s="$1" '
      { n++ } /"detected":true/ { d++ } /"action":"block"/ { b++ }
      END { printf "  %-12s %-38s %4d texts  detected %3d (%.1f%%)  blocked %3d (%.1f%%)\n",
            s, f, n, d, n ? 100 * d / n : 0, b, n ? 100 * b / n : 0 }'
}
echo "== false alarms on benign texts never trained on (default thresholds)"
alarms user "$out/injection-user.belt" "$gen/user_heldout.jsonl"
alarms user "$out/injection-user.belt" "$top/tests/cases/injection_everyday_user.jsonl"
alarms third_party "$out/injection-third-party.belt" "$gen/third_party_heldout.jsonl"
alarms third_party "$out/injection-third-party.belt" \
  "$top/tests/cases/injection_everyday_third_party.jsonl"
