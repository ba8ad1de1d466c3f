"""`curate train`, `curate merge`, `curate demo-model`: QLoRA fine-tuning on a curated split."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from curate.cli.app import (
    EXIT_FINDINGS,
    SEED,
    UserError,
    echo_err,
    handle_errors,
    json_option,
    main,
)

MAX_LISTED = 100


@main.command("train")
@click.argument("data", required=False, type=click.Path(exists=False))
@click.option("-o", "--output", "out", type=click.Path(file_okay=False), help="Output folder.")
@click.option(
    "--model",
    help="Base model: a local folder, a Hugging Face id, a .gguf file, or a model package name "
    "(see `curate models`).",
)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="YAML config.")
@click.option(
    "--init",
    "init_path",
    type=click.Path(dir_okay=False),
    help="Write a commented example config to this file and exit.",
)
@click.option("--chat-template", help="Chat template: a Jinja file, inline Jinja, or 'chatml'.")
@click.option("--max-steps", type=int, help="Stop after N optimizer steps (overrides epochs).")
@click.option("--epochs", type=float, help="Training epochs (default 2).")
@click.option("--lr", type=float, help="Learning rate (default 2e-4).")
@click.option("--rank", type=int, help="LoRA rank r (default 16).")
@click.option("--alpha", type=int, help="LoRA alpha (default 2 * rank).")
@click.option("--batch-size", type=int, help="Per-device batch size (default 4).")
@click.option("--grad-accum", type=int, help="Gradient accumulation steps (default 2).")
@click.option("--max-length", type=int, help="Max tokens per row (default 1024).")
@click.option("--packing/--no-packing", default=None, help="Pack rows into max_length blocks.")
@click.option(
    "--padding-free/--padded",
    default=None,
    help="Batch rows end to end without pad tokens (default) or padded to the longest.",
)
@click.option("--lora-dropout", type=float, help="LoRA dropout (default 0.05).")
@click.option(
    "--assistant-only-loss/--all-tokens-loss",
    default=None,
    help="Loss on assistant tokens only (default) or on every token.",
)
@click.option("--gradient-checkpointing/--no-gradient-checkpointing", default=None)
@click.option("--no-quantize", is_flag=True, default=None, help="Plain LoRA (no 4-bit QLoRA).")
@click.option("--load-in-8bit", is_flag=True, default=None, help="8-bit base instead of 4-bit.")
@click.option("--require-gpu", is_flag=True, default=None, help="Refuse to run without CUDA.")
@click.option(
    "--on-bad-rows",
    type=click.Choice(["refuse", "drop", "truncate"]),
    help="Pre-flight policy for problem rows (default refuse: exit 1 with the list).",
)
@click.option(
    "--tools-as-text",
    is_flag=True,
    default=None,
    help="Write tool calls and tool definitions into the text, for chat templates that "
    "ignore tool_calls/tools (format: docs/train.md).",
)
@click.option(
    "--stop-on-divergence",
    is_flag=True,
    default=None,
    help="Stop when the loss spikes or becomes non-finite.",
)
@click.option("--seed", type=SEED, help="Random seed (default 0).")
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint in OUT.")
@click.option("--overwrite", is_flag=True, help="Discard OUT's earlier checkpoints.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--preview",
    type=click.IntRange(min=1),
    help="Train nothing: render N train rows through the chat template into OUT/preview.html "
    "(loss-bearing tokens highlighted, max_length cut marked).",
)
@json_option
@handle_errors
def train_cmd(
    data: str | None,
    out: str | None,
    init_path: str | None,
    config_path: str | None,
    resume: bool,
    overwrite: bool,
    quiet: bool,
    as_json: bool,
    **opts: Any,
) -> None:
    """Fine-tune a model with QLoRA (LoRA on a 4-bit base) on a curated split.

    DATA is a split folder (train.jsonl + test.jsonl, from `curate split` or `curate run`),
    a single file of chat records, or a Hugging Face DatasetDict folder. Every row is rendered
    through the model's chat template before training (pre-flight); problem rows stop the run
    (exit 1) unless --on-bad-rows drop/truncate. Writes the adapter, tokenizer,
    train_config.yaml, metrics.json and loss.png to OUT.

    Example:

    \b
        curate train out/split -o out/adapter --model Qwen/Qwen2.5-0.5B-Instruct --epochs 2
    """
    from train.config import EXAMPLE_CONFIG, load_config

    if init_path:
        Path(init_path).write_text(EXAMPLE_CONFIG, encoding="utf-8")
        echo_err(f"wrote example config to {init_path}")
        return
    if not data or not out:
        raise click.UsageError("DATA and -o/--output are required (or --init FILE)")
    preview = opts.pop("preview")
    cfg = load_config(config_path, _overrides(opts))
    if preview:
        from curate.report.preview import write_preview

        written = write_preview(data, out, cfg, preview)
        echo_err(f"wrote {written} ({preview} rows rendered through the chat template)")
        return
    from train.preflight import PreflightFailed, problem_line
    from train.run import train_model

    try:
        metrics = train_model(
            data, out, cfg, resume=resume, overwrite=overwrite, log=echo_err, progress=not quiet
        )
    except PreflightFailed as exc:
        for d in exc.problems[:MAX_LISTED]:
            echo_err(problem_line(d))
        more = len(exc.problems) - MAX_LISTED
        if more > 0:
            echo_err(f"... and {more} more")
        if exc.headline:
            echo_err(f"pre-flight: {exc.headline}")
        echo_err(
            f"pre-flight: {len(exc.problems)} problem row(s), nothing trained (all listed in "
            f"{Path(out) / 'preflight_rejects.jsonl'}); fix them, raise --max-length, or use "
            "--on-bad-rows drop|truncate"
        )
        if as_json:
            click.echo(json.dumps({"ok": False, "preflight": exc.summary}, indent=2))
        sys.exit(EXIT_FINDINGS)
    ev, hist = metrics["eval_loss"], metrics["loss_history"]
    trend = f"loss {hist[0]['loss']:.4f} -> {metrics['final_loss']:.4f}" if hist else "no steps"
    echo_err(
        f"trained {metrics['global_step']} steps ({metrics['quantization']}): {trend}"
        + (f", eval loss {ev:.4f}" if ev is not None else "")
        + f"; adapter in {out}"
    )
    if as_json:
        click.echo(json.dumps(metrics, indent=2))


def _overrides(o: dict[str, Any]) -> dict[str, Any]:
    """CLI options -> dotted config keys; None means "not given" and never overrides."""
    quant: dict[str, Any] = {}
    if o["no_quantize"] and o["load_in_8bit"]:
        raise UserError("--no-quantize and --load-in-8bit contradict each other")
    if o["no_quantize"]:
        quant = {"model.load_in_4bit": False, "model.load_in_8bit": False}
    elif o["load_in_8bit"]:
        quant = {"model.load_in_4bit": False, "model.load_in_8bit": True}
    return {
        "model.name_or_path": o["model"],
        "model.chat_template": o["chat_template"],
        "model.require_gpu": o["require_gpu"],
        **quant,
        "lora.r": o["rank"],
        "lora.alpha": o["alpha"],
        "lora.dropout": o["lora_dropout"],
        "training.learning_rate": o["lr"],
        "training.epochs": o["epochs"],
        "training.max_steps": o["max_steps"],
        "training.batch_size": o["batch_size"],
        "training.gradient_accumulation_steps": o["grad_accum"],
        "training.max_length": o["max_length"],
        "training.packing": o["packing"],
        "training.padding_free": o["padding_free"],
        "training.assistant_only_loss": o["assistant_only_loss"],
        "training.gradient_checkpointing": o["gradient_checkpointing"],
        "training.seed": o["seed"],
        "data.on_bad_rows": o["on_bad_rows"],
        "data.tools_as_text": o["tools_as_text"],
        "watch.stop_on_divergence": o["stop_on_divergence"],
    }


@main.command("merge")
@click.argument("adapter", type=click.Path(file_okay=False))
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False))
@click.option(
    "--base",
    help="Base model (default: the one recorded in the adapter); also a .gguf or package name.",
)
@click.option(
    "--dtype",
    type=click.Choice(["auto", "float32", "bfloat16", "float16"]),
    default="auto",
    show_default=True,
    help="Precision of the reloaded base (auto: the base's own; never 4-bit).",
)
@click.option("--ollama", is_flag=True, help="Also write a Modelfile for `ollama create`.")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty output folder.")
@json_option
@handle_errors
def merge_cmd(
    adapter: str,
    out: str,
    base: str | None,
    dtype: str,
    ollama: bool,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Merge a trained adapter into its base model (safetensors + tokenizer + template).

    Example:

    \b
        curate merge out/adapter -o out/merged --ollama && cd out/merged && ollama create my-model
    """
    from train.merge import merge_adapter

    summary = merge_adapter(
        adapter, out, base=base, dtype=dtype, ollama=ollama, overwrite=overwrite
    )
    echo_err(f"merged {adapter} into {summary['base']} ({summary['dtype']}) -> {out}")
    if ollama and not summary["ollama_template_converted"]:
        echo_err("warning: chat template is not ChatML; add a TEMPLATE to the Modelfile by hand")
    if as_json:
        click.echo(json.dumps(summary, indent=2))


@main.command("demo-model")
@click.argument("out", type=click.Path(file_okay=False))
@click.option(
    "--from-data",
    type=click.Path(exists=True),
    help="Train the tokenizer on this data's text (better token counts on it).",
)
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option(
    "--init-range",
    type=float,
    default=0.1,
    show_default=True,
    help="Std of the random weights (large enough for the loss to fall visibly).",
)
@click.option("--overwrite", is_flag=True, help="Replace a non-empty output folder.")
@handle_errors
def demo_model_cmd(
    out: str, from_data: str | None, seed: int, init_range: float, overwrite: bool
) -> None:
    """Write a tiny, randomly initialised chat model: a toy for trying the chain offline.

    It has ~100k parameters and random weights: training it shows the pipeline works; it
    will never be a useful model.

    Example:

    \b
        curate demo-model demo_out/model
    """
    from curate.pipeline.outdir import atomic_directory
    from train.demo_model import build_demo_model
    from train.model import quiet_libraries

    quiet_libraries()
    texts = _texts(from_data) if from_data else None
    with atomic_directory(out, overwrite, inputs=[from_data]) as staging:
        build_demo_model(staging, texts=texts, seed=seed, initializer_range=init_range)
    echo_err(f"wrote a tiny random demo model (a toy, not a useful model) to {out}")


def _texts(path: str, limit: int = 5000) -> list[str]:
    from curate.chat import record_text
    from curate.records import Record
    from train.data import load_data

    data = load_data(path)
    items = data.train + (data.eval or [])  # never test: it is held out
    return [record_text(r.data) for r in items[:limit] if isinstance(r, Record)]
