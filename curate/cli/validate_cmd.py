"""`curate validate`: does every record parse, is it a valid conversation, how long is it?"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from typing import Any

import click

from curate.cli.app import (
    allow_rejects_option,
    exit_code,
    handle_errors,
    json_option,
    main,
    rejects_option,
)
from curate.cli.options import config_option, field_option, section_options
from curate.formats import FORMATS

MAX_LINES_SHOWN = 5


@main.command("validate")
@click.argument("path", type=click.Path(allow_dash=True))
@field_option(
    "validate",
    "schema",
    type=click.Path(dir_okay=False),
    help="Validate against this JSON Schema file instead of the bundled chat schema "
    "(structural chat checks still run on records with messages).",
)
@field_option(
    "validate",
    "tokenizer",
    type=click.Path(),
    help="Local Hugging Face tokenizer folder: exact token counts through its chat template "
    "(default: a labelled estimate).",
)
@field_option(
    "validate",
    "max_tokens",
    type=click.IntRange(min=1),
    help="Warn (over_max_tokens) about records longer than this many tokens.",
)
@field_option(
    "convert",
    "fmt",
    "--from",
    "from_format",
    type=click.Choice(FORMATS),
    help="Input format (default: the majority shape of the first 1,000 records). Non-chat "
    "input is converted to chat first, then validated.",
)
@rejects_option
@allow_rejects_option
@config_option("validate")
@json_option
@click.pass_context
@handle_errors
def validate(
    ctx: click.Context,
    path: str,
    rejects: str | None,
    allow_rejects: bool,
    config_path: str | None,
    as_json: bool,
    **_: Any,
) -> None:
    """Check that every record of PATH parses and is a valid chat conversation.

    PATH is JSONL, .jsonl.gz, a JSON array, Parquet, a Hugging Face dataset folder, or - for
    stdin. Alpaca, ShareGPT and prompt/completion records are converted to chat first. Exit
    code: 0 all valid, 1 invalid records found (or no records), 2 usage or I/O error.

    Example:

    \b
        curate validate sample_data/sample.jsonl --max-tokens 512 --rejects invalid.jsonl
    """
    from curate.validate import validate_file

    opts = section_options(ctx, "validate", config_path)
    fmt = section_options(ctx, "convert", config_path).fmt
    report = validate_file(path, opts.schema, opts.tokenizer, opts.max_tokens, fmt, rejects)
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    _print_summary(report.as_dict(), rejects)
    n_invalid = report.as_dict()["stats"]["invalid_records"]
    ctx.exit(exit_code("validate", report.records, n_invalid, allow_rejects))


def _lines_by_code(report: dict[str, Any]) -> dict[str, list[int | str]]:
    lines: dict[str, list[int | str]] = defaultdict(list)
    for inv in report["invalid"]:
        for err in inv["errors"]:
            if len(lines[err["code"]]) < MAX_LINES_SHOWN:
                lines[err["code"]].append(_where(report["path"], inv))
    for w in report["warnings"]:
        if len(lines[w["code"]]) < MAX_LINES_SHOWN:
            lines[w["code"]].append(_where(report["path"], w))
    return lines


def _where(path: str, item: dict[str, Any]) -> int | str:
    """The line, and for a folder or glob input the file too (``b.jsonl:3``)."""
    source = item.get("source")
    if not source or source == path:
        return item["line"]
    if os.path.isdir(path):
        source = os.path.relpath(source, path)
    return f"{source}:{item['line']}"


def _print_summary(report: dict[str, Any], rejects: str | None) -> None:
    """The human summary: rich tables on stderr (stdout stays for --json)."""
    from rich.console import Console
    from rich.table import Table

    from curate.validate import CODES

    console = Console(stderr=True, highlight=False)
    stats = report["stats"]
    tokens = stats["tokens"]
    n_invalid = stats["invalid_records"]
    table = Table(title=f"curate validate: {report['path']}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    fmt = report["format"]
    if stats.get("converted_from"):
        fmt = f"{fmt} (converted to chat before validating)"
    table.add_row("format", f"{fmt}; container {stats['container']}")
    table.add_row(
        "records", f"{report['records']:,} ({stats['blank_lines']:,} blank lines not counted)"
    )
    table.add_row("valid", f"{report['valid']:,}")
    table.add_row("invalid", f"[red]{n_invalid:,}[/red]" if n_invalid else "0")
    table.add_row("warnings", f"{stats['warning_count']:,}")
    if tokens["counted"]:
        label = "tokens (exact)" if tokens["exact"] else "tokens (ESTIMATE)"
        table.add_row(
            label,
            f"min {tokens['min']}  median {tokens['median']}  p95 "
            f"{tokens['p95']}  max {tokens['max']}",
        )
    if tokens["max_tokens"] is not None:
        table.add_row(
            "over --max-tokens", f"{tokens['over_max_tokens']:,} (> {tokens['max_tokens']})"
        )
    if stats.get("conversion_notes"):
        table.add_row(
            "conversion notes", ", ".join(f"{k}: {v}" for k, v in stats["conversion_notes"].items())
        )
    console.print(table)
    counts = {**stats["errors_by_code"], **stats["warnings_by_code"]}
    if counts:
        lines = _lines_by_code(report)
        findings = Table(title="findings")
        for col in ("code", "severity", "count", "first lines"):
            findings.add_column(col)
        for code, n in sorted(counts.items(), key=lambda kv: (CODES[kv[0]][0], -kv[1])):
            sev = CODES[code][0]
            findings.add_row(
                code,
                f"[red]{sev}[/red]" if sev == "error" else sev,
                f"{n:,}",
                ", ".join(map(str, lines.get(code, []))),
            )
        console.print(findings)
    if rejects:
        click.echo(f"invalid records written to {rejects}", err=True)
