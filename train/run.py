"""One training run: data -> pre-flight -> model -> SFTTrainer -> outputs.

Outputs in ``out_dir``: the LoRA adapter (``adapter_model.safetensors`` + config), the
tokenizer with the chat template used, ``train_config.yaml`` (resolved), ``metrics.json``,
``loss.png``, ``preflight_rejects.jsonl`` (rows pre-flight dropped or refused, with reasons)
and ``checkpoints/`` (for ``--resume``).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from curate.errors import ConfigError, InputError
from curate.outdir import fsync_tree
from curate.records import atomic_writer, write_jsonl
from train.config import TrainConfig, dump_config
from train.data import load_data
from train.masking import ChatEncoder
from train.model import quiet_libraries
from train.preflight import Preflight, PreflightFailed, run_preflight, template_name

CHECKPOINTS = "checkpoints"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)  # noqa: T201  (the library's default log sink is stderr)


def prepare(
    data_path: str | os.PathLike[str], cfg: TrainConfig, log: Callable[[str], None] = _stderr
) -> tuple[Any, Preflight]:
    """Tokenizer + pre-flight (no model loaded). Raises PreflightFailed under ``refuse``."""
    from train.model import load_tokenizer

    quiet_libraries()
    data = load_data(data_path, seed=cfg.training.seed)
    tokenizer = load_tokenizer(cfg)  # a wrong --model is the first thing said, alone
    for line in data.roles():
        log(f"data: {line}")
    for note in data.notes:
        log(f"warning: {note}")
    encoder = ChatEncoder(tokenizer, cfg.training.assistant_only_loss, cfg.training.max_length)
    t = cfg.training
    pf = run_preflight(
        data,
        encoder,
        policy=cfg.data.on_bad_rows,
        min_examples=cfg.data.min_examples,
        epochs=t.epochs,
        max_steps=t.max_steps,
        effective_batch=t.batch_size * t.gradient_accumulation_steps,
        tools_as_text=cfg.data.tools_as_text,
        template=template_name(tokenizer, cfg.model.chat_template),
    )
    if not pf.train.encoded:
        raise InputError(f"{data.train_source}: no trainable rows left after pre-flight")
    return tokenizer, pf


def write_rejects(out: Path, dropped: list[Any]) -> Path:
    path = out / "preflight_rejects.jsonl"
    write_jsonl(path, (d.to_reject() for d in dropped))
    return path


def _dataset(encoded: list[Any]) -> Any:
    from datasets import Dataset

    return Dataset.from_dict(
        {"input_ids": [e.input_ids for e in encoded], "labels": [e.labels for e in encoded]}
    )


def _peak_memory(cuda: bool) -> dict[str, int]:
    import torch

    if cuda:
        return {"peak_cuda_bytes": int(torch.cuda.max_memory_allocated())}
    # ru_maxrss is KiB on Linux: the process's peak resident memory, model + data + Python.
    return {"peak_rss_bytes": int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024}


def plot_loss(metrics: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    hist = metrics["loss_history"]
    ax.plot([h["step"] for h in hist], [h["loss"] for h in hist], label="train loss")
    ev = metrics["eval_history"]
    if ev:
        ax.plot([e["step"] for e in ev], [e["eval_loss"] for e in ev], "o-", label="eval loss")
    for e in metrics["watch_events"]:
        ax.axvline(e["step"], color="red", alpha=0.3)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.set_title(f"{metrics['model']} ({metrics['quantization']})")
    ax.legend()
    fig.tight_layout()
    with atomic_writer(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=100)
    plt.close(fig)


def train_model(
    data_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    cfg: TrainConfig,
    resume: bool = False,
    overwrite: bool = False,
    log: Callable[[str], None] = _stderr,
    progress: bool = True,
    callbacks: list[Any] | None = None,
) -> dict[str, Any]:
    """Train LoRA adapters on ``data_path`` into ``out_dir``; returns the metrics dict.

    Raises ``PreflightFailed`` (refuse policy) before any model is loaded, ``ConfigError`` /
    ``InputError`` for usage problems.
    """
    out = Path(out_dir)
    ckpt_dir = out / CHECKPOINTS
    has_ckpt = ckpt_dir.is_dir() and any(ckpt_dir.glob("checkpoint-*"))
    if resume and not has_ckpt:
        raise ConfigError(f"--resume: no checkpoint in {ckpt_dir} to resume from")
    if resume:
        steps = {int(p.name.rsplit("-", 1)[-1]): p for p in ckpt_dir.glob("checkpoint-*[0-9]")}
        latest = steps[max(steps)] if steps else ckpt_dir
        log(f"resuming from {latest}")
    if has_ckpt and not resume and not overwrite:
        raise ConfigError(
            f"{out} already holds checkpoints from an earlier run: --resume to continue it, "
            "--overwrite to start again, or choose another -o"
        )
    started = time.perf_counter()
    from curate.models.resolve import resolve_model

    requested = cfg.model.name_or_path
    # A .gguf file or a model package name becomes its cached transformers folder; the adapter
    # then records that folder as its base, so merge and eval find it without the GGUF.
    cfg.model.name_or_path = resolve_model(requested, log)
    try:
        tokenizer, pf = prepare(data_path, cfg, log)
    except PreflightFailed as exc:
        out.mkdir(parents=True, exist_ok=True)
        write_rejects(out, exc.problems)
        raise
    for w in pf.warnings:
        log(f"warning: {w}")
    out.mkdir(parents=True, exist_ok=True)
    if overwrite and has_ckpt:
        shutil.rmtree(ckpt_dir)
    if pf.dropped:
        path = write_rejects(out, pf.dropped)
        log(f"pre-flight dropped {len(pf.dropped)} row(s); reasons in {path}")
    if pf.method == "prefix_diff":
        log(
            "note: the chat template has no {% generation %} markers, so assistant tokens are "
            "located by rendering each conversation up to every assistant turn (checked per row; "
            "rows where that is ambiguous are reported as mask_mismatch)"
        )
    b = pf.budget
    log(
        f"pre-flight: {b['train_rows']} train rows, {b['tokens_per_epoch']:,} tokens/epoch "
        f"({b['loss_tokens_per_epoch']:,} with loss), ~{b['planned_tokens']:,} tokens planned, "
        f"masking: {pf.method}"
    )
    return _fit(
        out,
        cfg,
        tokenizer,
        pf,
        resume,
        log,
        progress,
        started,
        str(data_path),
        requested,
        callbacks,
    )


def _fit(
    out: Path,
    cfg: TrainConfig,
    tokenizer: Any,
    pf: Preflight,
    resume: bool,
    log: Callable[[str], None],
    progress: bool,
    started: float,
    data_path: str,
    requested: str | None = None,
    callbacks: list[Any] | None = None,
) -> dict[str, Any]:
    import torch
    from transformers import PrinterCallback, ProgressCallback, set_seed
    from trl import SFTTrainer

    from train.builders import cuda_available, get_sft_config
    from train.model import load_model
    from train.watch import LossWatch, ProgressBar

    cuda = cuda_available()
    set_seed(cfg.training.seed)
    loaded = load_model(cfg, cuda)
    for note in loaded.notes:
        log(note)
    log(f"model: {cfg.model.name_or_path} ({loaded.mode})")
    has_eval = pf.eval is not None and bool(pf.eval.encoded)
    args = get_sft_config(cfg, out / CHECKPOINTS, cuda=cuda, has_eval=has_eval)
    w = cfg.watch
    watch = LossWatch(
        learning_rate=cfg.training.learning_rate,
        spike_factor=w.spike_factor,
        flat_window=w.flat_window,
        flat_min_drop=w.flat_min_drop,
        stop_on_divergence=w.stop_on_divergence,
        log=log,
    )
    trainer = SFTTrainer(
        model=loaded.model,
        args=args,
        train_dataset=_dataset(pf.train.encoded),
        eval_dataset=_dataset(pf.eval.encoded) if has_eval else None,
        processing_class=tokenizer,
    )
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(watch)
    if progress:
        trainer.add_callback(ProgressBar())
    for cb in callbacks or ():
        trainer.add_callback(cb)
    eval_clock = _time_evaluations(trainer)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    with compact_lm_head():
        result = trainer.train(resume_from_checkpoint=True if resume else None)
        in_loop_eval_s = eval_clock["seconds"]
        history = list(trainer.state.log_history)
        evaluated = [h["step"] for h in history if "eval_loss" in h]
        if has_eval and (not evaluated or evaluated[-1] != result.global_step):
            log(f"final eval on {len(pf.eval.encoded)} rows")
            history.append({"step": result.global_step, **trainer.evaluate()})
    trainer.save_model(str(out))  # the adapter only (PEFT), as safetensors
    tokenizer.save_pretrained(str(out))
    with atomic_writer(out / "train_config.yaml", "w") as fh:
        fh.write(dump_config(cfg))
    metrics = _metrics(cfg, loaded, pf, history, result, watch, cuda, started)
    # Eval passes inside the loop are part of train_runtime; tokens/s counts training only.
    train_s = max((result.metrics.get("train_runtime") or 0.0) - in_loop_eval_s, 0.0)
    tokens = metrics["train_tokens"]
    metrics["train_runtime_s"] = round(train_s, 3)
    metrics["eval_runtime_s"] = round(eval_clock["seconds"], 3)
    metrics["tokens_per_second"] = round(tokens / train_s, 1) if tokens and train_s else None
    metrics["data"] = data_path
    metrics["model_requested"] = requested
    with atomic_writer(out / "metrics.json", "w") as fh:
        json.dump(metrics, fh, indent=2, sort_keys=False)
        fh.write("\n")
    plot_loss(metrics, out / "loss.png")
    # transformers saves weights private (0600); a serving user must be able to read them.
    fsync_tree(out)
    return metrics


@contextlib.contextmanager
def compact_lm_head() -> Iterator[bool]:
    """Score only the loss-bearing positions through the LM head on CPU too.

    TRL 1.16's fused LM head projects just the positions whose label is not -100 on CUDA/XPU
    (``_use_triton``), but every position elsewhere, to keep tile shapes fixed for compiled
    backends such as Neuron. CPU eager has nothing to recompile, and in chat SFT most tokens
    are prompt: on SmolLM2-135M (49k vocabulary) the head and its log-softmax were ~16% of a
    CPU step while 69% of its positions carried no loss. Same loss, same gradients (tested).
    Yields False, changing nothing, when TRL no longer has that switch.
    """
    try:
        import trl.trainer.utils as trl_utils
    except ImportError:
        yield False
        return
    original = getattr(trl_utils, "_use_triton", None)
    if original is None:
        yield False
        return

    def compact(device: Any) -> bool:
        return device.type == "cpu" or original(device)

    trl_utils._use_triton = compact
    try:
        yield True
    finally:
        trl_utils._use_triton = original


def _time_evaluations(trainer: Any) -> dict[str, float]:
    """Wrap ``trainer.evaluate`` so that the seconds spent evaluating are known."""
    clock = {"seconds": 0.0}
    evaluate = trainer.evaluate

    def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return evaluate(*args, **kwargs)
        finally:
            clock["seconds"] += time.perf_counter() - t0

    trainer.evaluate = timed
    return clock


def _metrics(
    cfg: TrainConfig,
    loaded: Any,
    pf: Preflight,
    history: list[dict[str, Any]],
    result: Any,
    watch: Any,
    cuda: bool,
    started: float,
) -> dict[str, Any]:
    import peft
    import torch
    import transformers
    import trl

    loss_history = [
        {
            "step": h["step"],
            "epoch": h.get("epoch"),
            "loss": h["loss"],
            "lr": h.get("learning_rate"),
        }
        for h in history
        if "loss" in h
    ]
    eval_history = [
        {"step": h["step"], "epoch": h.get("epoch"), "eval_loss": h["eval_loss"]}
        for h in history
        if "eval_loss" in h
    ]
    num_tokens = next((h["num_tokens"] for h in reversed(history) if "num_tokens" in h), None)
    runtime = result.metrics.get("train_runtime") or 0.0
    return {
        "model": cfg.model.name_or_path,
        "quantization": loaded.mode,
        "quantization_requested": cfg.quantization,
        "fallback_notes": loaded.notes,
        "cpu_bf16_repack_disabled_layers": loaded.patched_4bit_layers,
        "device": "cuda" if cuda else "cpu",
        "batching": "packed"
        if cfg.training.packing
        else ("padding_free" if cfg.training.padding_free else "padded"),
        "global_step": result.global_step,
        "epochs_done": history[-1].get("epoch") if history else None,
        "train_loss": result.training_loss,
        "final_loss": loss_history[-1]["loss"] if loss_history else None,
        "eval_loss": eval_history[-1]["eval_loss"] if eval_history else None,
        "loss_history": loss_history,
        "eval_history": eval_history,
        "watch_events": [e.as_dict() for e in watch.events],
        "train_tokens": num_tokens,
        "tokens_per_second": round(num_tokens / runtime, 1) if num_tokens and runtime else None,
        "train_runtime_s": round(runtime, 3),
        "wall_time_s": round(time.perf_counter() - started, 3),
        **_peak_memory(cuda),
        "trainable_parameters": sum(
            p.numel() for p in loaded.model.parameters() if p.requires_grad
        ),
        "preflight": pf.as_dict(),
        "seed": cfg.training.seed,
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "trl": trl.__version__,
            "peft": peft.__version__,
        },
    }
