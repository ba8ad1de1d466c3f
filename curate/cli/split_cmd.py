"""`curate split`: leakage-safe, stratified, group-aware train/test(/val) splits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
import orjson

from curate.cli.app import SEED, echo_err, exit_code, handle_errors, json_option, main
from curate.cli.options import (
    F,
    config_option,
    field_option,
    section_flags,
    section_options,
)


def _option(name: str, *decls: str, **kwargs: Any) -> Callable[[F], F]:
    return field_option("split", name, *decls, **kwargs)


def split_options(func: F) -> F:
    """The split options of ``curate split``, made from ``SplitConfig``'s fields."""
    options = [
        _option("test_size", help="Share of records for test."),
        _option("val_size", help="Share of records for validation (0: no val.jsonl)."),
        _option(
            "stratify",
            metavar="KEY",
            multiple=True,
            help="Stratum key: a field (dotted path, field:NAME for a field called "
            "language/cluster/length), or language, cluster, length. Repeat or "
            "comma-separate to combine.",
        ),
        _option(
            "group",
            metavar="FIELD",
            help="Records with the same value of FIELD stay on one side.",
        ),
        _option(
            "semantic",
            "--semantic/--no-semantic",
            help="Use embeddings (semantic duplicates, semantic leakage check).",
        ),
        _option(
            "keep_duplicates_together",
            "--keep-duplicates-together/--no-keep-duplicates-together",
            help="Keep duplicate clusters on one side.",
        ),
        _option("clusters", help="k for --stratify cluster."),
        _option("length_buckets", help="Quantile buckets for --stratify length."),
        _option(
            "tokenizer",
            metavar="PATH",
            help="Local HF tokenizer for exact --stratify length counts.",
        ),
    ]
    for opt in reversed(options):
        func = opt(func)
    return func


def split_flags(ctx: click.Context) -> dict[str, Any]:
    """The split flags typed on the command line; ``--stratify a,b`` is two keys."""
    flags = section_flags(ctx, "split")
    if "stratify" in flags:
        flags["stratify"] = tuple(
            part.strip() for item in flags["stratify"] for part in item.split(",") if part.strip()
        )
    return flags


@main.command("split")
@click.argument("path", type=click.Path(dir_okay=True, allow_dash=True))
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder for train.jsonl, test.jsonl (val.jsonl), split_report.json (created "
    "atomically; see --overwrite).",
)
@click.option("--overwrite", is_flag=True, help="Replace a non-empty output folder (atomically).")
@split_options
@_option(
    "min_stratum",
    type=click.IntRange(0),
    help="Pool strata with fewer records into '<other>' [default: ceil(1/test-size), 10 at "
    "0.1; 0: off].",
)
@_option(
    "tolerance",
    type=click.FloatRange(0, 1, max_open=True),
    help="The test share is off target when it misses by more than this share of the records "
    "(and by more than one record).",
)
@_option("strict", is_flag=True, help="Exit 1 when the test (val) share is off target.")
@_option("seed", type=SEED, help="Random seed (written to the report).")
@config_option("split")
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
    overwrite: bool,
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
    instead). DIR is built beside itself and swapped in whole: a non-empty DIR is refused
    unless --overwrite (then it ends up holding this split's files only); DIR may not hold
    the input.

    Example:

        curate split data.jsonl -o splits/ --test-size 0.1 --stratify category --seed 1
    """
    from curate.outdir import atomic_directory
    from curate.split import read_chat_records, split_records, write_splits

    config = section_options(ctx, "split", config_path, split_flags(ctx))
    # As curate run: DIR is replaced whole (no earlier run's val.jsonl stays beside this
    # run's files), so it may not hold the input or the config file.
    with atomic_directory(out_dir, overwrite, inputs=[path, config_path]) as staging:
        records = read_chat_records(path)
        result = split_records(records, config)
        written = write_splits(result, staging, parquet=parquet, hf_dataset=hf_dataset)
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
