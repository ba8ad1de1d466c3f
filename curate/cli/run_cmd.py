"""`curate run`: a raw file to a train-ready, audited, leakage-safe dataset folder."""

from __future__ import annotations

from typing import Any

import click
import orjson

from curate.cli.app import echo_err, handle_errors, json_option, main
from curate.cli.engine_opts import ENGINE_FLAGS, engine_options, shards_option
from curate.cli.split_cmd import explicit_flags, split_flags

RUN_FLAGS = {
    "seed": "seed",
    "semantic": "semantic",
    "parquet": "parquet",
    "hf_dataset": "hf_dataset",
    "shards": "shards",
    **ENGINE_FLAGS,
}


@main.command("run")
@click.argument("path", type=click.Path(dir_okay=True, allow_dash=True))
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Output folder (created atomically; see --overwrite).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="YAML run config: sections run/validate/convert/filter/dedup/audit/split.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed for every stage (a section's own seed wins).",
)
@click.option(
    "--semantic/--no-semantic",
    default=True,
    show_default=True,
    help="Embeddings for semantic dedup, diversity and the semantic leakage check.",
)
@click.option("--overwrite", is_flag=True, help="Replace a non-empty output folder (atomically).")
@click.option(
    "--test-size", type=float, default=0.1, show_default=True, help="Share of records for test."
)
@click.option(
    "--val-size",
    type=float,
    default=0.0,
    show_default=True,
    help="Share of records for validation.",
)
@click.option(
    "--stratify",
    multiple=True,
    metavar="KEY",
    help="Stratum key(s) for the split (see curate split --help).",
)
@click.option("--group", metavar="FIELD", help="Records sharing FIELD stay on one side.")
@click.option(
    "--fail-on",
    multiple=True,
    metavar="RULE",
    help="Audit gate, e.g. conflicting_answers>0 (exit 1 when broken).",
)
@click.option("--parquet", is_flag=True, help="Also write <side>.parquet.")
@click.option("--hf-dataset", is_flag=True, help="Also save an HF DatasetDict to DIR/hf.")
@engine_options
@shards_option
@json_option
@click.pass_context
@handle_errors
def run_cmd(
    ctx: click.Context,
    path: str,
    out_dir: str,
    config_path: str | None,
    overwrite: bool,
    as_json: bool,
    **_: Any,
) -> None:
    """Validate, convert, filter, dedup, audit and split PATH into DIR, all or nothing.

    DIR gets train.jsonl, test.jsonl (val.jsonl), rejects.jsonl (every dropped record with
    its line, stage and reason), report.json, report.html, README.md (dataset card) and
    manifest.json (counts that add up, config, versions, sha256 of every file). Exit code 1
    when an audit gate (--fail-on / audit.fail_on) fails; the outputs are still written.

    Example:

        curate run sample_data/sample.jsonl -o out/ --config sample_data/curate.yaml
    """
    from curate.pipeline import load_run_config, run_pipeline

    flags: dict[str, dict[str, Any]] = {
        "run": explicit_flags(ctx, RUN_FLAGS),
        "split": {k: v for k, v in split_flags(ctx).items() if k not in ("seed", "semantic")},
        "audit": explicit_flags(ctx, {"fail_on": "fail_on"}),
    }
    config = load_run_config(config_path, flags)
    result = run_pipeline(path, out_dir, config, overwrite=overwrite)
    m = result.manifest
    outputs = ", ".join(f"{k} {v}" for k, v in m["outputs"].items())
    echo_err(
        f"run: {m['input']['records']} records in -> {outputs}; {m['rejected']} rejected "
        f"({', '.join(f'{k} {v}' for k, v in m['rejected_by_reason'].items()) or 'none'})"
    )
    echo_err(f"run: wrote {out_dir}/ (manifest.json, report.html, README.md, rejects.jsonl)")
    for rule in result.gates_failed:
        echo_err(f"run: gate failed: {rule}")
    if result.leakage:
        echo_err(f"run: leakage across splits: {result.leakage}")
    if as_json:
        click.echo(orjson.dumps(m, option=orjson.OPT_INDENT_2).decode())
    ctx.exit(result.exit_code)
