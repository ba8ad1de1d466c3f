"""Throughput of `curate train` beside plain TRL + PEFT on the same model, data and steps.

Usage:
    python bench/train_bench.py [DATA] [--model DIR] [--steps N] [--no-quantize]

DATA defaults to a generated set of short chat rows; --model defaults to the tiny demo model
built in a temp folder. Prints tokens/s, wall time and final loss for both, side by side. The
baseline is what a user would write by hand: SFTTrainer with a LoraConfig (and the same 4-bit
BitsAndBytesConfig + CPU repack fix when quantized), on the same rows.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def _rows(n: int = 64) -> list[dict]:
    return [
        {
            "messages": [
                {"role": "user", "content": f"What is {i} times 7? Explain briefly."},
                {
                    "role": "assistant",
                    "content": f"{i} times 7 is {i * 7}, since 7 * {i} = {i * 7}.",
                },
            ]
        }
        for i in range(n)
    ]


def ours(data: Path, model: str, out: Path, steps: int, quantize: bool) -> dict:
    from train.config import load_config
    from train.run import train_model

    cfg = load_config(
        None,
        {
            "model.name_or_path": model,
            "model.load_in_4bit": quantize,
            "training.max_steps": steps,
            "training.save_strategy": "no",
            "training.learning_rate": 1e-3,
            "data.on_bad_rows": "truncate",
        },
    )
    t = time.perf_counter()
    m = train_model(data, out, cfg, progress=False, log=lambda _: None)
    return {
        "wall_s": time.perf_counter() - t,
        "tokens/s": m["tokens_per_second"],
        "final_loss": m["final_loss"],
        "mode": m["quantization"],
    }


def baseline(data: Path, model: str, out: Path, steps: int, quantize: bool) -> dict:
    import torch
    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        BitsAndBytesConfig,
        PrinterCallback,
    )
    from trl import SFTConfig, SFTTrainer

    cuda = torch.cuda.is_available()
    t = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(model)
    kw: dict = {}
    if quantize:
        kw["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if cuda else torch.float32,
        )
        kw["device_map"] = {"": 0 if cuda else "cpu"}
    base = AutoModelForCausalLM.from_pretrained(model, **kw)
    if quantize and not cuda:
        import bitsandbytes as bnb

        for mod in base.modules():
            if isinstance(mod, bnb.nn.Linear4bit):
                mod.support_avx512bf16_for_cpu = False
    ds = load_dataset("json", data_files=str(data / "train.jsonl"), split="train")
    args = SFTConfig(
        output_dir=str(out),
        max_steps=steps,
        learning_rate=1e-3,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,
        max_length=1024,
        assistant_only_loss=True,
        bf16=cuda,
        use_cpu=not cuda,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        seed=0,
    )
    lora = LoraConfig(
        r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM"
    )
    tr = SFTTrainer(model=base, args=args, train_dataset=ds, processing_class=tok, peft_config=lora)
    tr.remove_callback(PrinterCallback)
    res = tr.train()
    hist = tr.state.log_history
    tokens = next((h["num_tokens"] for h in reversed(hist) if "num_tokens" in h), 0)
    losses = [h["loss"] for h in hist if "loss" in h]
    return {
        "wall_s": time.perf_counter() - t,
        "tokens/s": round(tokens / res.metrics["train_runtime"], 1),
        "final_loss": losses[-1] if losses else None,
        "mode": "trl+peft " + ("4bit" if quantize else "lora"),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="?")
    ap.add_argument("--model")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--no-quantize", action="store_true")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    data = Path(a.data) if a.data else tmp / "data"
    if not a.data:
        data.mkdir()
        (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows()))
    model = a.model
    if model is None:
        from train.demo_model import build_demo_model

        model = str(build_demo_model(tmp / "model", initializer_range=0.1))
    q = not a.no_quantize
    # Baseline first: the first run in a process also pays one-off warm-up costs.
    results = {
        "TRL+PEFT baseline": baseline(data, model, tmp / "base", a.steps, q),
        "curate train": ours(data, model, tmp / "ours", a.steps, q),
    }
    print(f"{'':20} {'mode':18} {'tokens/s':>10} {'wall s':>8} {'final loss':>11}")
    for name, r in results.items():
        print(
            f"{name:20} {r['mode']:18} {r['tokens/s']:>10} {r['wall_s']:>8.2f} "
            f"{r['final_loss']:>11.4f}"
        )


if __name__ == "__main__":
    main()
