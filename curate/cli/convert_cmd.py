"""`curate convert`: Alpaca / ShareGPT / prompt-completion -> chat JSONL."""

from __future__ import annotations

import json

import click

from curate.cli.app import (
    UserError,
    allow_rejects_option,
    echo_err,
    exit_code,
    handle_errors,
    json_option,
    main,
    rejects_option,
)
from curate.cli.options import config_option, field_option, section_options
from curate.formats import FORMATS


@main.command("convert")
@click.argument("path", type=click.Path(allow_dash=True))
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Chat JSONL to write (atomically; - for stdout).",
)
@field_option(
    "convert",
    "fmt",
    "--from",
    "from_format",
    type=click.Choice(FORMATS),
    help="Input format (default: the majority shape of the first 1,000 records).",
)
@click.option(
    "--field",
    "fields",
    multiple=True,
    metavar="KEY=PATH",
    help="Map another layout: prompt=, input=, response=, system=, or turns= with role=, "
    "content=, roles=human:user,..., turn_roles=user,assistant. Paths are dotted, list "
    "indexes allowed (instances.0.input). See docs/validate.md.",
)
@rejects_option
@allow_rejects_option
@config_option("convert")
@json_option
@click.pass_context
@handle_errors
def convert(
    ctx: click.Context,
    path: str,
    output: str,
    from_format: str | None,
    fields: tuple[str, ...],
    rejects: str | None,
    allow_rejects: bool,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Convert the records of PATH to OpenAI chat JSONL ({"messages": [...]} + metadata).

    Chat records pass through unchanged; extra fields are kept. Records that cannot be
    converted (unknown_format, conversion_error) and unreadable lines go to --rejects.
    Anything the chat format cannot hold is counted under conversion_notes. Exit code: 0 all
    converted, 1 some rejected (--allow-rejects: 0) or no records, 2 usage or I/O
    error.

    Example:

    \b
        curate convert sharegpt.json -o chat.jsonl --rejects rejected.jsonl
        curate convert self_instruct.jsonl -o chat.jsonl --field prompt=instruction \\
            --field input=instances.0.input --field response=instances.0.output
    """
    from curate.convert import convert_file
    from curate.fieldmap import describe, field_flags

    if as_json and output == "-":
        raise UserError("--json and -o - both write to stdout; pick one")
    extra = {"fields": field_flags(fields)} if fields else {}
    opts = section_options(ctx, "convert", config_path, extra)
    report = convert_file(path, output, opts.fmt, rejects, opts.field_map())
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False))
    stats = report["stats"]
    echo_err(
        f"curate convert: {report['records']:,} records ({report['format']}) -> "
        f"{report['converted']:,} chat records in {output}; {stats['rejected_count']:,} rejected"
        + (f" {stats['rejected_by_reason']}" if stats["rejected_count"] else "")
    )
    if stats.get("suggested_fields"):
        echo_err(
            f"records of unknown layout; a mapping that fits: {describe(stats['suggested_fields'])}"
        )
    if stats["conversion_notes"]:
        echo_err(f"conversion notes (not representable in chat): {stats['conversion_notes']}")
    ctx.exit(exit_code("convert", report["records"], stats["rejected_count"], allow_rejects))
