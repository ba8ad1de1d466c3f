"""Throughput and peak memory of `curate train` beside a hand-written TRL + PEFT script, on the
same model, rows, batch shape and number of steps, in one run.

Usage:
    python bench/train_bench.py [DATA] [--model NAME_OR_PATH] [--steps N] [--modes lora,qlora]

DATA: a split folder (its train.jsonl) or a chat JSONL file; default: the valid chat rows of
sample_data/sample.jsonl. --model: default the packaged SmolLM2-135M-Instruct
(`smollm2-135m-instruct`, converted once). Each (tool, mode) pair runs in its own process, so
its peak RSS (CPU) or peak CUDA memory (GPU) is its own; the parent prints one table.

The baseline is what a user would write by hand: SFTTrainer + LoraConfig (r=16, all linear
layers), prompt/completion rows (TRL's completion-only loss), the same 4-bit
BitsAndBytesConfig (+ the CPU repack fix on CPU), the same batch and max length. tokens/s is
trained tokens (padding excluded, TRL's ``num_tokens``) over the training loop's own seconds,
after one warm-up step that is not counted (first-step allocation and kernel selection), and
without eval passes (curate carves an eval slice when the data has no val split).

curate runs twice per mode (``--batching``): padded to the longest row of each batch, as the
baseline does, and padding-free (its default: rows end to end, no pad tokens), so the table
shows both curate's overhead at equal work and what padding-free saves.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MAX_LEN, LR = 256, 1e-3
BATCH, ACCUM = 4, 2  # the shape a new user ran (issue 12); --batch / --accum change it


def sample_rows(path: Path) -> list[dict]:
    """Chat rows with user/assistant string turns, ending with the assistant (bench input)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        msgs = r.get("messages") if isinstance(r, dict) else None
        if not isinstance(msgs, list) or len(msgs) < 2:
            continue
        if not all(
            isinstance(m, dict)
            and m.get("role") in ("system", "user", "assistant")
            and isinstance(m.get("content"), str)
            and m["content"].strip()
            for m in msgs
        ):
            continue
        if msgs[-1]["role"] != "assistant":
            continue
        rows.append({"messages": msgs})
    return rows


def _peak(cuda: bool) -> dict[str, float]:
    import torch

    if cuda:
        return {"peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30}
    return {"peak_mem_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


class _Clock:
    """A TrainerCallback that times the optimizer steps after the first (warm-up) one."""

    def __new__(cls) -> Any:
        from transformers import TrainerCallback

        class Clock(TrainerCallback):
            def __init__(self) -> None:
                self.t0: float | None = None
                self.tokens0 = 0
                self.t1 = 0.0
                self.tokens1 = 0
                self.eval_started: float | None = None
                self.eval_s = 0.0  # eval passes inside the timed window are not training

            def on_prediction_step(self, args, state, control, **kw):  # noqa: ANN001
                if self.eval_started is None:
                    _sync()
                    self.eval_started = time.perf_counter()

            def on_evaluate(self, args, state, control, **kw):  # noqa: ANN001
                if self.eval_started is not None and self.t0 is not None:
                    _sync()
                    self.eval_s += time.perf_counter() - self.eval_started
                self.eval_started = None

            def on_log(self, args, state, control, logs=None, **kw):  # noqa: ANN001
                tokens = (logs or {}).get("num_tokens")
                if tokens is None:
                    return
                if self.t0 is None:
                    _sync()
                    self.t0, self.tokens0 = time.perf_counter(), tokens
                else:
                    _sync()
                    self.t1, self.tokens1 = time.perf_counter(), tokens

            def rate(self) -> float | None:
                if self.t0 is None or not self.t1:
                    return None
                return (self.tokens1 - self.tokens0) / (self.t1 - self.t0 - self.eval_s)

        return Clock()


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def run_curate(
    data: Path, model: str, out: Path, steps: int, mode: str, batching: str = "padding_free"
) -> dict[str, Any]:
    """`curate train` as the library runs it, defaults except the shared bench shape."""
    import torch

    from train.config import load_config
    from train.run import train_model

    cfg = load_config(
        None,
        {
            "model.name_or_path": model,
            "model.load_in_4bit": mode == "qlora",
            "training.max_steps": steps,
            "training.batch_size": BATCH,
            "training.gradient_accumulation_steps": ACCUM,
            "training.max_length": MAX_LEN,
            "training.learning_rate": LR,
            "training.padding_free": batching == "padding_free",
            "training.save_strategy": "no",
            "data.on_bad_rows": "drop",
        },
    )
    clock = _Clock()
    t = time.perf_counter()
    m = train_model(data, out, cfg, progress=False, log=lambda _: None, callbacks=[clock])
    return {
        "wall_s": time.perf_counter() - t,
        "tokens_per_s": clock.rate(),
        "tokens_per_s_reported": m["tokens_per_second"],
        "final_loss": m["final_loss"],
        "mode": m["quantization"],
        "batching": m["batching"],
        "grad_ckpt": cfg.training.gradient_checkpointing,
        "cuda": torch.cuda.is_available(),
        **_peak(torch.cuda.is_available()),
    }


def run_trl(
    data: Path, model: str, out: Path, steps: int, mode: str, batching: str = "padded"
) -> dict[str, Any]:
    """The hand-written script: SFTTrainer + LoraConfig, prompt/completion rows."""
    import torch
    from datasets import Dataset
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
    kw: dict[str, Any] = {"dtype": torch.bfloat16 if cuda else torch.float32}
    if mode == "qlora":
        kw["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if cuda else torch.float32,
        )
    kw["device_map"] = {"": 0 if cuda else "cpu"}
    base = AutoModelForCausalLM.from_pretrained(model, **kw)
    if mode == "qlora" and not cuda:
        import bitsandbytes as bnb

        for mod in base.modules():
            if isinstance(mod, bnb.nn.Linear4bit):
                mod.support_avx512bf16_for_cpu = False
    rows = [json.loads(x) for x in (data / "train.jsonl").read_text().splitlines()]
    ds = Dataset.from_list(
        [{"prompt": r["messages"][:-1], "completion": r["messages"][-1:]} for r in rows]
    )
    args = SFTConfig(
        output_dir=str(out),
        max_steps=steps,
        learning_rate=LR,
        per_device_train_batch_size=BATCH,
        gradient_accumulation_steps=ACCUM,
        max_length=MAX_LEN,
        gradient_checkpointing=False,
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
    clock = _Clock()
    tr = SFTTrainer(model=base, args=args, train_dataset=ds, processing_class=tok, peft_config=lora)
    tr.remove_callback(PrinterCallback)
    tr.add_callback(clock)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    tr.train()
    losses = [h["loss"] for h in tr.state.log_history if "loss" in h]
    return {
        "wall_s": time.perf_counter() - t,
        "tokens_per_s": clock.rate(),
        "final_loss": losses[-1] if losses else None,
        "mode": f"trl+peft {mode}",
        "batching": "padded",
        "grad_ckpt": False,
        "cuda": cuda,
        **_peak(cuda),
    }


def one(args: argparse.Namespace) -> None:
    """Child process: one (tool, mode) run, one JSON line on stdout."""
    import warnings

    warnings.filterwarnings("ignore")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from train.model import quiet_libraries

    quiet_libraries()
    fn = run_curate if args.one == "curate" else run_trl
    out = Path(tempfile.mkdtemp(prefix=f"bench_{args.one}_{args.mode}_"))
    result = fn(Path(args.data), args.model, out, args.steps, args.mode, args.batching)
    print(json.dumps({"tool": args.one, "bench_mode": args.mode, **result}), flush=True)


def main() -> None:
    global BATCH, ACCUM  # the child processes read them from --batch / --accum
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?")
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--modes", default="lora,qlora")
    ap.add_argument(
        "--batching",
        default="padded,padding_free",
        help="curate's batchings to run (the TRL baseline pads, as a hand-written script does)",
    )
    ap.add_argument("--batch", type=int, default=BATCH)
    ap.add_argument("--accum", type=int, default=ACCUM)
    ap.add_argument("--one", choices=["curate", "trl"], help=argparse.SUPPRESS)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    a = ap.parse_args()
    BATCH, ACCUM = a.batch, a.accum
    if a.one:
        one(a)
        return
    sys.path.insert(0, str(ROOT))
    from curate.models.resolve import resolve_model

    model = resolve_model(a.model, lambda m: print(m, file=sys.stderr))
    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    src = Path(a.data) if a.data else ROOT / "sample_data" / "sample.jsonl"
    if src.is_dir():
        src = src / "train.jsonl"
    rows = sample_rows(src)
    data = tmp / "data"
    data.mkdir()
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(
        f"model {model}\ndata {src}: {len(rows)} rows; batch {BATCH} x accum {ACCUM}, "
        f"max_length {MAX_LEN}, {a.steps} optimizer steps (the first is warm-up, not timed)",
        flush=True,
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    results = []
    for mode in a.modes.split(","):
        # Baseline first in each group: all pay the same file-cache warm-up order every time.
        runs = [("trl", "padded")] + [("curate", b) for b in a.batching.split(",")]
        for tool, batching in runs:
            cmd = [sys.executable, __file__, str(data), "--model", model, "--steps", str(a.steps)]
            cmd += ["--one", tool, "--mode", mode, "--batch", str(BATCH), "--accum", str(ACCUM)]
            cmd += ["--batching", batching]
            t = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
            line = next((x for x in proc.stdout.splitlines()[::-1] if x.startswith("{")), None)
            if proc.returncode or line is None:
                print(
                    f"{tool} {mode} {batching}: failed ({proc.returncode})\n{proc.stderr[-3000:]}"
                )
                continue
            r = json.loads(line)
            r["process_s"] = time.perf_counter() - t
            results.append(r)
            print(json.dumps(r), flush=True)
    print(
        f"\n{'tool':8} {'mode':18} {'batching':13} {'tokens/s':>9} {'vs TRL':>7} {'peak GiB':>9} "
        f"{'process s':>10} {'final loss':>11}"
    )
    base_rate = {r["bench_mode"]: r["tokens_per_s"] for r in results if r["tool"] == "trl"}
    for r in results:
        ref = base_rate.get(r["bench_mode"])
        ratio = f"{r['tokens_per_s'] / ref:.2f}x" if ref and r["tokens_per_s"] else "-"
        rate = f"{r['tokens_per_s']:.1f}" if r["tokens_per_s"] else "-"
        loss = f"{r['final_loss']:.4f}" if r["final_loss"] is not None else "-"
        print(
            f"{r['tool']:8} {r['mode']:18} {r['batching']:13} {rate:>9} {ratio:>7} "
            f"{r['peak_mem_gib']:>9.2f} "
            f"{r['process_s']:>10.1f} {loss:>11}"
        )
    kind = "peak CUDA memory allocated" if results and results[0]["cuda"] else "peak RSS"
    print(f"(peak GiB = {kind} of that run's process)")


if __name__ == "__main__":
    main()
