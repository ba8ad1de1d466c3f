"""`curate split`: leakage-safe, stratified, group-aware train/test(/val) splits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson
from click.core import ParameterSource

from curate.cli.app import SEED, echo_err, exit_code, handle_errors, json_option, main
from curate.records import check_output_paths


def explicit_flags(ctx: click.Context, mapping: dict[str, str]) -> dict[str, Any]:
    """Options the user actually typed (not defaults), renamed to config keys.

    ``mapping`` is click param name -> config field name. Flags override the config file, so
    only explicit ones may replace a file value.
    """
    out = {}
    for param, key in mapping.items():
        source = ctx.get_parameter_source(param)
        if source is not None and source is not ParameterSource.DEFAULT:
            value = ctx.params[param]
            out[key] = tuple(value) if isinstance(value, list | tuple) else value
    return out


SPLIT_FLAGS = {
    "test_size": "test_size",
    "val_size": "val_size",
    "stratify": "stratify",
    "group": "group",
    "seed": "seed",
    "semantic": "semantic",
    "keep_duplicates_together": "keep_duplicates_together",
    "clusters": "clusters",
    "length_buckets": "length_buckets",
    "tokenizer": "tokenizer",
    "min_stratum": "min_stratum",
    "tolerance": "tolerance",
    "strict": "strict",
}


def split_options(func: Any) -> Any:
    """The split options, shared by ``curate split`` and ``curate run``."""
    options = [
        click.option(
            "--test-size",
            type=float,
            default=0.1,
            show_default=True,
            help="Share of records for test.",
        ),
        click.option(
            "--val-size",
            type=float,
            default=0.0,
            show_default=True,
            help="Share of records for validation (0: no val.jsonl).",
        ),
        click.option(
            "--stratify",
            multiple=True,
            metavar="KEY",
            help="Stratum key: a field (dotted path, field:NAME for a field called "
            "language/cluster/length), or language, cluster, length. Repeat or "
            "comma-separate to combine.",
        ),
        click.option(
            "--group",
            metavar="FIELD",
            help="Records with the same value of FIELD stay on one side.",
        ),
        click.option(
            "--semantic/--no-semantic",
            default=True,
            show_default=True,
            help="Use embeddings (semantic duplicates, semantic leakage check).",
        ),
        click.option(
            "--keep-duplicates-together/--no-keep-duplicates-together",
            default=True,
            show_default=True,
            help="Keep duplicate clusters on one side.",
        ),
        click.option(
            "--clusters", type=int, default=8, show_default=True, help="k for --stratify cluster."
        ),
        click.option(
            "--length-buckets",
            type=int,
            default=4,
            show_default=True,
            help="Quantile buckets for --stratify length.",
        ),
        click.option(
            "--tokenizer",
            metavar="PATH",
            help="Local HF tokenizer for exact --stratify length counts.",
        ),
    ]
    for opt in reversed(options):
        func = opt(func)
    return func


def split_flags(ctx: click.Context) -> dict[str, Any]:
    flags = explicit_flags(ctx, SPLIT_FLAGS)
    if "stratify" in flags:
        flags["stratify"] = tuple(
            part.strip() for item in flags["stratify"] for part in item.split(",") if part.strip()
        )
    return flags


def _split_outputs(out_dir: str, parquet: bool, hf_dataset: bool) -> tuple[list[Path], list[Path]]:
    """The files and folders ``curate split`` may write into OUT (checked against the input)."""
    out = Path(out_dir)
    exts = (".jsonl", ".parquet") if parquet else (".jsonl",)
    files = [out / f"{side}{ext}" for side in ("train", "test", "val") for ext in exts]
    return [*files, out / "split_report.json"], [out / "hf"] if hf_dataset else []


@main.command("split")
@click.argument("path", type=click.Path(dir_okay=True, allow_dash=True))
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for train.jsonl, test.jsonl (val.jsonl), split_report.json.",
)
@split_options
@click.option(
    "--min-stratum",
    type=click.IntRange(0),
    help="Pool strata with fewer records into '<other>' [default: ceil(1/test-size), 10 at "
    "0.1; 0: off].",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.02,
    show_default=True,
    help="The test share is off target when it misses by more than this share of the records "
    "(and by more than one record).",
)
@click.option("--strict", is_flag=True, help="Exit 1 when the test (val) share is off target.")
@click.option(
    "--seed", type=SEED, default=0, show_default=True, help="Random seed (written to the report)."
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="YAML run config; its split: section is read (flags override it).",
)
@click.option("--parquet", is_flag=True, help="Also write <side>.parquet.")
@click.option("--hf-dataset", is_flag=True, help="Also save an HF DatasetDict to DIR/hf.")
@json_option
@click.pass_context
@handle_errors
def split_cmd(
    ctx: click.Context,
    path: str,
    out_dir: str,
    config_path: str | None,
    parquet: bool,
    hf_dataset: bool,
    as_json: bool,
    **_: Any,
) -> None:
    """Split PATH into train/test(/val) without leakage between them.

    Records in one exact/near/semantic duplicate cluster, or sharing --group FIELD, land on
    the same side; each stratum gives test its exact share (within one record); strata
    too small to split go wholly to train and are listed in the report; strata under
    --min-stratum records are first pooled into '<other>'. The achieved test share is printed
    against its target. Exits 1 if the leakage check still finds a cross-split duplicate, PATH
    holds no records, or with --strict when the share is off target. An unreadable or
    unconvertible record is an error naming its line (exit 2; curate run rejects such records
    instead).

    Example:

        curate split data.jsonl -o splits/ --test-size 0.1 --stratify category --seed 1
    """
    from curate.config import build
    from curate.pipeline.config import load_section
    from curate.split import SplitConfig, read_chat_records, split_records, write_splits

    file = load_section(config_path, "split")
    config = build(SplitConfig, file, split_flags(ctx), section="split")
    check_output_paths([path, config_path], *_split_outputs(out_dir, parquet, hf_dataset))
    records = read_chat_records(path)
    result = split_records(records, config)
    written = write_splits(result, out_dir, parquet=parquet, hf_dataset=hf_dataset)
    report = result.report()
    counts = ", ".join(f"{k} {v}" for k, v in report["counts"].items())
    echo_err(f"split: {len(records)} records -> {counts}; written to {out_dir}")
    for s in result.strata:
        if s.status != "split":
            echo_err(f"split: stratum {s.stratum!r} ({s.records} records): {s.status}")
        if s.pooled:
            echo_err(
                f"split: {len(s.pooled)} strata under {config.pool_below()} records pooled "
                f"into {s.stratum!r} ({s.records} records)"
            )
    for line in share_lines(report["shares"]):
        echo_err(f"split: {line}")
    leak = report["leakage"]
    if leak.get("checked"):
        echo_err(f"split: leakage across splits: {leak['total']} ({leak['by_method']})")
    if as_json:
        report["files"] = sorted(written)
        click.echo(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    flagged = [f"leakage across splits: {leak['total']}"] if leak.get("total") else []
    if config.strict and report["shares"]["off_target"]:
        flagged.append("test share off target (--strict)")
    ctx.exit(exit_code("split", len(records), 0, flagged=flagged))


def share_lines(shares: dict[str, Any]) -> list[str]:
    """'test share 9.9% (25 of 252 records; target 10.0%)', plus OFF TARGET when it is."""
    out = []
    for side in ("test", "val"):
        sh = shares.get(side)
        if sh:
            out.append(
                f"{side} share {sh['achieved']:.1%} ({sh['records']} of {shares['records']} "
                f"records; target {sh['target']:.1%})"
                + (
                    f"; OFF TARGET by more than {shares['tolerance']:.0%} (--strict exits 1)"
                    if sh["off_target"]
                    else ""
                )
            )
    return out
