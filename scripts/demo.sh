#!/usr/bin/env bash
# Set up (idempotent) and run the main job on the bundled sample data, the whole chain:
#   curate run (validate -> convert -> filters -> dedup -> audit -> split)
#   -> curate train (a tiny local toy model, a few QLoRA steps on CPU)
#   -> curate merge -> curate eval (base vs fine-tune on the held-out test split).
# Usage: bash scripts/demo.sh   (outputs in demo_out/, or $OUT)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TOKENIZERS_PARALLELISM=false
OUT=${OUT:-demo_out}
CURATE=.venv/bin/curate
rm -rf "$OUT"
mkdir -p "$OUT"

step() { printf '\n==> %s\n' "$*" >&2; }

step "curate run: validate, convert, filter, dedup, audit and split sample_data/sample.jsonl"
# Exit 1 means a configured audit gate found problems (the sample set has planted ones);
# the outputs are complete either way.
set +e
$CURATE run sample_data/sample.jsonl -o "$OUT/run" --config sample_data/curate.yaml
rc=$?
set -e
[ "$rc" -le 1 ] || exit "$rc"

step "curate demo-model: a tiny random toy LM (NOT a useful model) built locally, no download"
$CURATE demo-model "$OUT/model" --from-data "$OUT/run"

step "curate train: a few QLoRA steps on the curated train split (CPU)"
$CURATE train "$OUT/run" -o "$OUT/adapter" --model "$OUT/model" \
  --max-steps 30 --batch-size 2 --grad-accum 1 --lr 1e-2

step "curate merge: fold the adapter into the base weights (+ an Ollama Modelfile)"
$CURATE merge "$OUT/adapter" -o "$OUT/merged" --ollama

step "curate eval: base vs fine-tune on the held-out test split"
$CURATE eval "$OUT/run" -o "$OUT/eval" --base "$OUT/model" --adapter "$OUT/adapter" \
  --label category --max-new-tokens 32

step "done: see $OUT/run/report.html, $OUT/adapter/loss.png and $OUT/eval/eval.html"
