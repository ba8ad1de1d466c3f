#!/usr/bin/env bash
# Set up (idempotent) and run the main job on the bundled sample data: bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TOKENIZERS_PARALLELISM=false
OUT=${OUT:-demo_out}
rm -rf "$OUT"
mkdir -p "$OUT"
.venv/bin/curate validate sample_data/sample.jsonl --rejects "$OUT/invalid.jsonl" || true
.venv/bin/curate convert sample_data/sample.jsonl -o "$OUT/converted.jsonl" --rejects "$OUT/convert_rejects.jsonl" || true
