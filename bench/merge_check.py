"""Does the merged folder generate what base + adapter generates? Greedy tokens, side by side.

Usage:
    python bench/merge_check.py ADAPTER MERGED DATA [--base MODEL] [-n 20] [--new-tokens 48]

DATA: a chat JSONL file or split folder (its test.jsonl); the first N prompts are used. Both
models run in fp32 (GPU when there is one). Prints how many of the N greedy continuations are
token-for-token identical, and the first position where any differ.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("adapter")
    ap.add_argument("merged")
    ap.add_argument("data")
    ap.add_argument("--base", help="default: the base recorded in the adapter")
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--new-tokens", type=int, default=48)
    a = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from curate.models.resolve import resolve_model
    from train.merge import base_model_of
    from train.model import quiet_libraries

    quiet_libraries()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    base_path = resolve_model(a.base or base_model_of(Path(a.adapter)))
    data = Path(a.data)
    if data.is_dir():
        data = data / "test.jsonl"
    rows = [json.loads(x) for x in data.read_text(encoding="utf-8").splitlines()[: a.n]]
    tok = AutoTokenizer.from_pretrained(a.merged)
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32).to(device)
    adapted = PeftModel.from_pretrained(base, a.adapter).eval()
    merged = AutoModelForCausalLM.from_pretrained(a.merged, dtype=torch.float32).to(device).eval()
    same, first_diff = 0, []
    for r in rows:
        msgs = [m for m in r["messages"] if m["role"] != "assistant"][:2]
        enc = tok.apply_chat_template(
            msgs, add_generation_prompt=True, return_dict=True, return_tensors="pt"
        ).to(device)
        kw = {"max_new_tokens": a.new_tokens, "do_sample": False, "pad_token_id": tok.eos_token_id}
        with torch.no_grad():
            x = adapted.generate(**enc, **kw)[0].tolist()
            y = merged.generate(**enc, **kw)[0].tolist()
        if x == y:
            same += 1
        else:
            pairs = enumerate(zip(x, y, strict=False))
            first_diff.append(next((i for i, (p, q) in pairs if p != q), min(len(x), len(y))))
    print(
        json.dumps(
            {
                "prompts": len(rows),
                "identical_greedy_continuations": same,
                "first_difference_at": first_diff,
                "new_tokens": a.new_tokens,
                "device": device,
            }
        )
    )


if __name__ == "__main__":
    main()
