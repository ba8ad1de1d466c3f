"""`curate train`, `curate merge`, `curate demo-model`: QLoRA fine-tuning on a curated split."""

from __future__ import annotations

import json
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
from curate.cli.options import config_option, field_option, section_flags, section_options
from train.config import ON_BAD_ROWS
from train.config import SECTIONS as TRAIN_SECTIONS

MAX_LISTED = 100


def _option(section: str, name: str, *decls: str, **kwargs: Any) -> Any:
    return field_option(TRAIN_SECTIONS[section], name, *decls, section=section, **kwargs)


@main.command("train")
@click.argument("data", required=False, type=click.Path(exists=False))
@click.option("-o", "--output", "out", type=click.Path(file_okay=False), help="Output folder.")
@_option(
    "model",
    "name_or_path",
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
@_option("model", "chat_template", help="Chat template: a Jinja file, inline Jinja, or 'chatml'.")
@_option("training", "max_steps", help="Stop after N optimizer steps (overrides epochs).")
@_option("training", "epochs", help="Training epochs.")
@_option("training", "learning_rate", "--lr", help="Learning rate.")
@_option("lora", "r", "--rank", help="LoRA rank r.")
@_option("lora", "alpha", help="LoRA alpha (default 2 * rank).")
@_option("training", "batch_size", help="Per-device batch size.")
@_option(
    "training", "gradient_accumulation_steps", "--grad-accum", help="Gradient accumulation steps."
)
@_option("training", "max_length", help="Max tokens per row.")
@_option("training", "packing", "--packing/--no-packing", help="Pack rows into max_length blocks.")
@_option(
    "training",
    "padding_free",
    "--padding-free/--padded",
    help="Batch rows end to end without pad tokens (default) or padded to the longest.",
)
@_option("lora", "dropout", "--lora-dropout", help="LoRA dropout.")
@_option(
    "training",
    "assistant_only_loss",
    "--assistant-only-loss/--all-tokens-loss",
    help="Loss on assistant tokens only (default) or on every token.",
)
@_option(
    "training",
    "gradient_checkpointing",
    "--gradient-checkpointing/--no-gradient-checkpointing",
    help="Recompute activations to save memory (default: on for models of 1B+ parameters).",
)
@click.option("--no-quantize", is_flag=True, help="Plain LoRA (no 4-bit QLoRA).")
@click.option("--load-in-8bit", is_flag=True, help="8-bit base instead of 4-bit.")
@_option("model", "require_gpu", is_flag=True, help="Refuse to run without CUDA.")
@_option(
    "data",
    "on_bad_rows",
    type=click.Choice(ON_BAD_ROWS),
    help="Pre-flight policy for problem rows (refuse: exit 1 with the list).",
)
@_option(
    "data",
    "tools_as_text",
    is_flag=True,
    help="Write tool calls and tool definitions into the text, for chat templates that "
    "ignore tool_calls/tools (format: docs/train.md).",
)
@_option(
    "watch",
    "stop_on_divergence",
    is_flag=True,
    help="Stop when the loss spikes or becomes non-finite.",
)
@_option("training", "seed", type=SEED, help="Random seed.")
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
@click.pass_context
@handle_errors
def train_cmd(
    ctx: click.Context,
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
    cfg = load_config(config_path, _overrides(ctx))
    if preview:
        from train.preview import write_preview

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
        ctx.exit(EXIT_FINDINGS)
    ev, hist = metrics["eval_loss"], metrics["loss_history"]
    trend = f"loss {hist[0]['loss']:.4f} -> {metrics['final_loss']:.4f}" if hist else "no steps"
    echo_err(
        f"trained {metrics['global_step']} steps ({metrics['quantization']}): {trend}"
        + (f", eval loss {ev:.4f}" if ev is not None else "")
        + f"; adapter in {out}"
    )
    if as_json:
        click.echo(json.dumps(metrics, indent=2))


def _overrides(ctx: click.Context) -> dict[str, Any]:
    """The typed options as dotted config keys (``training.learning_rate``): they override the
    file; an option left out never does."""
    o = ctx.params
    if o["no_quantize"] and o["load_in_8bit"]:
        raise UserError("--no-quantize and --load-in-8bit contradict each other")
    out = {
        f"{section}.{key}": value
        for section in TRAIN_SECTIONS
        for key, value in section_flags(ctx, section).items()
    }
    if o["no_quantize"]:
        out |= {"model.load_in_4bit": False, "model.load_in_8bit": False}
    elif o["load_in_8bit"]:
        out |= {"model.load_in_4bit": False, "model.load_in_8bit": True}
    return out


@main.command("merge")
@click.argument("adapter", type=click.Path(file_okay=False))
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False))
@field_option(
    "merge",
    "base",
    help="Base model (default: the one recorded in the adapter); also a .gguf or package name.",
)
@field_option(
    "merge", "dtype", help="Precision of the reloaded base (auto: the base's own; never 4-bit)."
)
@field_option("merge", "ollama", is_flag=True, help="Also write a Modelfile for `ollama create`.")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty output folder.")
@config_option("merge")
@json_option
@click.pass_context
@handle_errors
def merge_cmd(
    ctx: click.Context,
    adapter: str,
    out: str,
    overwrite: bool,
    config_path: str | None,
    as_json: bool,
    **_: Any,
) -> None:
    """Merge a trained adapter into its base model (safetensors + tokenizer + template).

    Example:

    \b
        curate merge out/adapter -o out/merged --ollama && cd out/merged && ollama create my-model
    """
    from train.merge import merge_adapter

    o = section_options(ctx, "merge", config_path)
    summary = merge_adapter(
        adapter, out, base=o.base, dtype=o.dtype, ollama=o.ollama, overwrite=overwrite
    )
    echo_err(f"merged {adapter} into {summary['base']} ({summary['dtype']}) -> {out}")
    if o.ollama and not summary["ollama_template_converted"]:
        echo_err("warning: chat template is not ChatML; add a TEMPLATE to the Modelfile by hand")
    if as_json:
        click.echo(json.dumps(summary, indent=2))


@main.command("demo-model")
@click.argument("out", type=click.Path(file_okay=False))
@field_option(
    "demo_model",
    "from_data",
    type=click.Path(exists=True),
    help="Train the tokenizer on this data's text (better token counts on it).",
)
@field_option("demo_model", "seed", type=SEED)
@field_option("demo_model", "init_range")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty output folder.")
@config_option("demo_model")
@click.pass_context
@handle_errors
def demo_model_cmd(
    ctx: click.Context, out: str, overwrite: bool, config_path: str | None, **_: Any
) -> None:
    """Write a tiny, randomly initialised chat model: a toy for trying the chain offline.

    It has ~100k parameters and random weights: training it shows the pipeline works; it
    will never be a useful model.

    Example:

    \b
        curate demo-model demo_out/model
    """
    from curate.outdir import atomic_directory
    from train.demo_model import build_demo_model
    from train.model import quiet_libraries

    quiet_libraries()
    o = section_options(ctx, "demo_model", config_path)
    texts = _texts(o.from_data) if o.from_data else None
    with atomic_directory(out, overwrite, inputs=[o.from_data]) as staging:
        build_demo_model(staging, texts=texts, seed=o.seed, initializer_range=o.init_range)
    echo_err(f"wrote a tiny random demo model (a toy, not a useful model) to {out}")


def _texts(path: str, limit: int = 5000) -> list[str]:
    from curate.chat import record_text
    from curate.records import Record
    from train.data import load_data

    data = load_data(path)
    items = data.train + (data.eval or [])  # never test: it is held out
    return [record_text(r.data) for r in items[:limit] if isinstance(r, Record)]
