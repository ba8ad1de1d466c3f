"""`curate eval`: is the fine-tune better than the prompted base model?"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from curate.cli.app import (
    EXIT_FINDINGS,
    UserError,
    echo_err,
    handle_errors,
    json_option,
    main,
    seed_option,
)


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


def _read_text(path: str | None, what: str) -> str | None:
    if path is None:
        return None
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read {what}: {exc}") from exc


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
@click.option(
    "--base",
    help="Base model: local folder, HF id, .gguf file or model package name (or the model name "
    "at --base-url).",
)
@click.option(
    "--adapter",
    type=click.Path(exists=True, file_okay=False),
    help="Fine-tune as a PEFT adapter folder (from `curate train`), on top of --base.",
)
@click.option(
    "--tuned",
    type=click.Path(exists=True, file_okay=False),
    help="Fine-tune as a merged model folder (from `curate merge`).",
)
@click.option(
    "--base-url", help="Serve the base side from this OpenAI-compatible endpoint (.../v1)."
)
@click.option("--base-model-name", help="Model name sent to --base-url (default: --base).")
@click.option("--tuned-url", help="Serve the fine-tune from this OpenAI-compatible endpoint.")
@click.option("--tuned-model-name", help="Model name sent to --tuned-url.")
@click.option(
    "--api-key-env",
    default="OPENAI_API_KEY",
    show_default=True,
    help="Environment variable holding the endpoints' API key (unset: no key sent).",
)
@click.option("--base-system-prompt", help="System prompt for the base side (your best prompt).")
@click.option(
    "--base-system-prompt-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Read the base system prompt from a file.",
)
@click.option("--max-examples", type=int, help="Evaluate the first N examples only.")
@click.option("--max-new-tokens", type=int, default=256, show_default=True)
@click.option(
    "--batch-size", type=int, default=8, show_default=True, help="Local generation batch."
)
@click.option(
    "--temperature",
    type=float,
    default=0.0,
    show_default=True,
    help="0 = greedy decoding (deterministic).",
)
@click.option("--device", help="torch device for local models (default: cuda if available).")
@click.option("--label", "label_field", help="Record field with a category: metrics per category.")
@click.option("--expect-json", is_flag=True, help="Score whether responses parse as JSON.")
@click.option(
    "--response-schema",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON Schema file responses must satisfy (implies --expect-json).",
)
@click.option("--response-regex", help="Pattern the whole response must match.")
@click.option(
    "--primary-metric",
    default="rouge_l",
    show_default=True,
    help="Metric for per-example wins when there is no judge or human rating.",
)
@click.option("--judge-url", help="OpenAI-compatible endpoint of the pairwise judge.")
@click.option("--judge-model", help="Judge model name.")
@click.option(
    "--judge-api-key-env", help="Env variable with the judge's key (default: --api-key-env)."
)
@click.option(
    "--rubric",
    type=click.Path(exists=True, dir_okay=False),
    help="Replace the judge's criteria with the text of this file.",
)
@click.option(
    "--judge-rps",
    type=float,
    default=0.0,
    show_default=True,
    help="Judge requests per second (0 = no limit).",
)
@click.option("--judge-no-reference", is_flag=True, help="Do not show the judge the reference.")
@click.option(
    "--human-sheet",
    is_flag=True,
    help="Export a blind rating sheet: human_sheet.csv/.html + human_key.json in OUT.",
)
@click.option(
    "--human-ratings",
    type=click.Path(exists=True, dir_okay=False),
    help="Import a filled sheet (CSV with row, preference) and test it.",
)
@click.option(
    "--human-key",
    type=click.Path(exists=True, dir_okay=False),
    help="Key of the sheet (default: OUT/human_key.json).",
)
@click.option(
    "--regression",
    type=click.Path(exists=True),
    help="General-ability set (chat JSONL) checked for drops base -> fine-tune.",
)
@click.option(
    "--regression-threshold",
    type=float,
    default=0.05,
    show_default=True,
    help="Flag a metric whose mean drops by more than this (absolute).",
)
@click.option("--fail-on-regression", is_flag=True, help="Exit 1 when a regression is flagged.")
@click.option(
    "--require-win",
    is_flag=True,
    help="Exit 1 unless the fine-tune wins significantly (p < --alpha).",
)
@click.option("--alpha", type=float, default=0.05, show_default=True)
@click.option(
    "--reuse-generations/--regenerate",
    default=True,
    show_default=True,
    help="Reuse responses in OUT/generations.jsonl whose model and prompt still match.",
)
@click.option(
    "--timeout", type=float, default=120.0, show_default=True, help="Seconds per request."
)
@click.option("--retries", type=int, default=4, show_default=True, help="Retries on 429/5xx.")
@click.option(
    "--retry-backoff",
    type=float,
    default=1.0,
    show_default=True,
    help="First retry delay in seconds (doubles each retry).",
)
@click.option(
    "--concurrency",
    type=int,
    default=4,
    show_default=True,
    help="Requests in flight at once to each endpoint and the judge.",
)
@click.option(
    "--html-examples",
    type=int,
    default=50,
    show_default=True,
    help="Side-by-side examples shown in eval.html.",
)
@seed_option
@json_option
@handle_errors
def eval_command(data: str, out: str, **opts: Any) -> None:
    """Compare the fine-tune with the prompted base model on a held-out test set.

    DATA is a chat JSONL test file or a split folder (its test.jsonl). Both models answer each
    test prompt; the answers are scored against the reference (exact / normalized match, token
    F1, ROUGE-L, format), optionally judged pairwise by an LLM in both orders, exported for
    blind human rating, and checked for regressions on a general set. Writes OUT/eval.json and
    OUT/eval.html and prints a verdict line on stderr.

    Example:

        curate eval split/ -o eval_out --base demo_model --adapter train_out --label category
    """
    from curate.evaluate import (
        DecodeSettings,
        EvalConfig,
        FormatSpec,
        JudgeSpec,
        SideSpec,
        load_rubric,
        run_eval,
    )
    from curate.evaluate.client import api_key_from_env

    o = opts
    if o["adapter"] and o["tuned"]:
        raise UserError("give either --adapter or --tuned, not both")
    if not o["base"] and not o["base_url"]:
        raise UserError("give the base model: --base PATH_OR_ID (or --base-url)")
    if o["base_system_prompt"] and o["base_system_prompt_file"]:
        raise UserError("give either --base-system-prompt or --base-system-prompt-file")
    if bool(o["judge_url"]) != bool(o["judge_model"]):
        raise UserError("--judge-url and --judge-model go together")
    system = o["base_system_prompt"] or _read_text(o["base_system_prompt_file"], "system prompt")
    key = api_key_from_env(o["api_key_env"])
    schema = None
    if o["response_schema"]:
        try:
            schema = json.loads(Path(o["response_schema"]).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"{o['response_schema']}: not a JSON Schema file: {exc}") from exc
    judge = None
    if o["judge_url"]:
        judge = JudgeSpec(
            o["judge_url"],
            o["judge_model"],
            api_key=api_key_from_env(o["judge_api_key_env"] or o["api_key_env"]),
            rubric=load_rubric(o["rubric"]),
            with_reference=not o["judge_no_reference"],
            rps=o["judge_rps"],
        )
    cfg = EvalConfig(
        data=data,
        out_dir=out,
        base=SideSpec(o["base"], url=o["base_url"], model_name=o["base_model_name"], api_key=key),
        tuned=SideSpec(
            o["tuned"],
            adapter=o["adapter"],
            url=o["tuned_url"],
            model_name=o["tuned_model_name"],
            api_key=key,
        ),
        base_system_prompt=system,
        decode=DecodeSettings(o["max_new_tokens"], o["batch_size"], o["temperature"], o["seed"]),
        max_examples=o["max_examples"],
        label_field=o["label_field"],
        response_format=FormatSpec(o["expect_json"], schema, o["response_regex"]),
        judge=judge,
        human_sheet=o["human_sheet"],
        human_ratings=o["human_ratings"],
        human_key=o["human_key"],
        regression=o["regression"],
        regression_threshold=o["regression_threshold"],
        primary_metric=o["primary_metric"],
        alpha=o["alpha"],
        reuse=o["reuse_generations"],
        seed=o["seed"],
        device=o["device"],
        timeout=o["timeout"],
        retries=o["retries"],
        backoff=o["retry_backoff"],
        html_examples=o["html_examples"],
        concurrency=o["concurrency"],
    )
    bars = _Bars()
    try:
        result = run_eval(cfg, progress=bars)
    finally:
        bars.close()
    report = result.report
    _summarise(report, result.notes, out)
    echo_err(f"verdict: {result.verdict}")
    if o["as_json"]:
        click.echo(json.dumps(report, indent=1, ensure_ascii=False))
    if o["require_win"] and not result.win:
        echo_err(f"--require-win not met: no significant fine-tune win at alpha={cfg.alpha}")
        sys.exit(EXIT_FINDINGS)
    if o["fail_on_regression"] and result.regressed:
        sys.exit(EXIT_FINDINGS)


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
