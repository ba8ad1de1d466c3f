"""`curate eval`: is the fine-tune better than the prompted base model?"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from curate.cli.app import (
    EXIT_FINDINGS,
    SEED,
    echo_err,
    handle_errors,
    json_option,
    main,
)
from curate.cli.options import config_option, field_option, section_options


class _Bars:
    """One stderr progress bar per phase (base, tuned, judge), opened as each one starts."""

    def __init__(self) -> None:
        self.label: str | None = None
        self.bar: Any = None

    def __call__(self, label: str, advance: int, total: int) -> None:
        if not sys.stderr.isatty():
            return  # a log file gets the summary lines, not bar fragments
        if label != self.label:
            self.close()
            self.label = label
            self.bar = click.progressbar(length=total, label=f"{label:>6}", file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(advance)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _option(name: str, *decls: str, **kwargs: Any) -> Any:
    return field_option("eval", name, *decls, **kwargs)


@main.command("eval")
@click.argument("data", type=click.Path(exists=True))
@click.option(
    "-o",
    "--output",
    "out",
    required=True,
    type=click.Path(file_okay=False),
    help="Output folder: generations.jsonl, eval.json, eval.html.",
)
@_option(
    "base",
    help="Base model: local folder, HF id, .gguf file or model package name (or the model name "
    "at --base-url).",
)
@_option(
    "adapter",
    type=click.Path(exists=True, file_okay=False),
    help="Fine-tune as a PEFT adapter folder (from `curate train`), on top of --base.",
)
@_option(
    "tuned",
    type=click.Path(exists=True, file_okay=False),
    help="Fine-tune as a merged model folder (from `curate merge`).",
)
@_option(
    "base_url",
    help="Serve the base side from this OpenAI-compatible endpoint (.../v1).",
)
@_option("base_model_name", help="Model name sent to --base-url (default: --base).")
@_option("tuned_url", help="Serve the fine-tune from this OpenAI-compatible endpoint.")
@_option("tuned_model_name", help="Model name sent to --tuned-url.")
@_option(
    "api_key_env",
    help="Environment variable holding the endpoints' API key (unset: no key sent).",
)
@_option(
    "base_system_prompt",
    help="System prompt for the base side (your best prompt).",
)
@_option(
    "base_system_prompt_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Read the base system prompt from a file.",
)
@_option("max_examples", type=int, help="Evaluate the first N examples only.")
@_option("max_new_tokens", type=int)
@_option("batch_size", type=int, help="Local generation batch.")
@_option(
    "temperature",
    type=float,
    help="0 = greedy decoding (deterministic).",
)
@_option("device", help="torch device for local models (default: cuda if available).")
@_option("label", help="Record field with a category: metrics per category.")
@_option("expect_json", is_flag=True, help="Score whether responses parse as JSON.")
@_option(
    "response_schema",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON Schema file responses must satisfy (implies --expect-json).",
)
@_option("response_regex", help="Pattern the whole response must match.")
@_option(
    "primary_metric",
    help="Metric for per-example wins when there is no judge or human rating.",
)
@_option("judge_url", help="OpenAI-compatible endpoint of the pairwise judge.")
@_option("judge_model", help="Judge model name.")
@_option(
    "judge_api_key_env",
    help="Env variable with the judge's key (default: --api-key-env).",
)
@_option(
    "rubric",
    type=click.Path(exists=True, dir_okay=False),
    help="Replace the judge's criteria with the text of this file.",
)
@_option(
    "judge_rps",
    type=float,
    help="Judge requests per second (0 = no limit).",
)
@_option(
    "judge_no_reference",
    is_flag=True,
    help="Do not show the judge the reference.",
)
@_option(
    "human_sheet",
    is_flag=True,
    help="Export a blind rating sheet: human_sheet.csv/.html + human_key.json in OUT.",
)
@_option(
    "human_ratings",
    type=click.Path(exists=True, dir_okay=False),
    help="Import a filled sheet (CSV with row, preference) and test it.",
)
@_option(
    "human_key",
    type=click.Path(exists=True, dir_okay=False),
    help="Key of the sheet (default: OUT/human_key.json).",
)
@_option(
    "regression",
    type=click.Path(exists=True),
    help="General-ability set (chat JSONL) checked for drops base -> fine-tune.",
)
@_option(
    "regression_threshold",
    type=float,
    help="Flag a metric whose mean drops by more than this (absolute).",
)
@_option(
    "fail_on_regression",
    is_flag=True,
    help="Exit 1 when a regression is flagged.",
)
@_option(
    "require_win",
    is_flag=True,
    help="Exit 1 unless the fine-tune wins significantly (p < --alpha).",
)
@_option("alpha", type=float)
@_option(
    "reuse_generations",
    "--reuse-generations/--regenerate",
    help="Reuse responses in OUT/generations.jsonl whose model and prompt still match.",
)
@_option("timeout", type=float, help="Seconds per request.")
@_option("retries", type=int, help="Retries on 429/5xx.")
@_option(
    "retry_backoff",
    type=float,
    help="First retry delay in seconds (doubles each retry).",
)
@_option(
    "concurrency",
    type=int,
    help="Requests in flight at once to each endpoint and the judge.",
)
@_option(
    "html_examples",
    type=int,
    help="Side-by-side examples shown in eval.html.",
)
@_option("seed", type=SEED, help="Random seed (written to reports).")
@config_option("eval")
@json_option
@click.pass_context
@handle_errors
def eval_command(
    ctx: click.Context, data: str, out: str, config_path: str | None, as_json: bool, **_: Any
) -> None:
    """Compare the fine-tune with the prompted base model on a held-out test set.

    DATA is a chat JSONL test file or a split folder (its test.jsonl). Both models answer each
    test prompt; the answers are scored against the reference (exact / normalized match, token
    F1, ROUGE-L, format), optionally judged pairwise by an LLM in both orders, exported for
    blind human rating, and checked for regressions on a general set. Writes OUT/eval.json and
    OUT/eval.html and prints a verdict line on stderr.

    Example:

        curate eval split/ -o eval_out --base demo_model --adapter train_out --label category
    """
    from curate.evaluate import run_eval

    opts = section_options(ctx, "eval", config_path)
    cfg = opts.to_config(data, out)
    bars = _Bars()
    try:
        result = run_eval(cfg, progress=bars)
    finally:
        bars.close()
    report = result.report
    _summarise(report, result.notes, out)
    echo_err(f"verdict: {result.verdict}")
    if as_json:
        click.echo(json.dumps(report, indent=1, ensure_ascii=False))
    if opts.require_win and not result.win:
        echo_err(f"--require-win not met: no significant fine-tune win at alpha={cfg.alpha}")
        ctx.exit(EXIT_FINDINGS)
    if opts.fail_on_regression and result.regressed:
        ctx.exit(EXIT_FINDINGS)


def _summarise(report: dict[str, Any], notes: list[str], out: str) -> None:
    """The human summary on stderr: generation counts, metric means, notes, regressions."""
    gen = report["generation"]
    echo_err(
        f"generations: base {gen['base_generated']} new / {gen['base_reused']} reused, "
        f"fine-tune {gen['tuned_generated']} new / {gen['tuned_reused']} reused"
    )
    for metric, row in report["metrics"]["metrics"].items():
        base, tuned = (f"{v:.3f}" if v is not None else "-" for v in (row["base"], row["tuned"]))
        echo_err(f"  {metric:<17} base {base}  fine-tune {tuned}")
    for label, block in report["metrics"]["by_label"].items():
        if "comparison" in block:
            echo_err(f"  {label} (n={block['n']}): {block['comparison']['verdict']}")
    for note in notes:
        echo_err(f"note: {note}")
    if report["regression"]:
        from curate.evaluate.regression import describe

        lines = list(describe(report["regression"]))
        for line in lines or ["regression check: no metric dropped beyond threshold"]:
            echo_err(line)
    echo_err(f"wrote {out}/eval.json, {out}/eval.html")
    if report["human_sheet"]:
        sheet = report["human_sheet"]
        echo_err(f"blind sheet for raters: {sheet['csv']}, {sheet['html']}")
        echo_err(f"its key (keep it from the raters): {sheet['key']}")
