"""The root command group and the pieces every command shares."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from curate import __version__
from curate.errors import CurateError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT: what a shell reports for a process Ctrl-C ended


class UserError(click.ClickException):
    """A usage, config or I/O problem: one line on stderr, exit code 2."""

    exit_code = EXIT_USAGE


def handle_errors(func: F) -> F:
    """Turn ``CurateError``s and OS-level I/O errors into one line with exit code 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CurateError as exc:
            raise UserError(str(exc)) from exc
        except BrokenPipeError:
            # `curate ... | head` closes stdout early; that is not an error.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(EXIT_OK)
        except OSError as exc:
            # A path we were told to read or write failed at the OS level (no such folder,
            # permission, disk full): a usage / I/O error, reported in one line.
            where = f"{exc.filename}: " if exc.filename else ""
            raise UserError(f"{where}{exc.strerror or exc}") from exc

    return wrapper  # type: ignore[return-value]


def echo_err(message: str) -> None:
    """Progress, logs and human summaries go to stderr; stdout is for data / JSON."""
    click.echo(message, err=True)


# The range a seed has in a config file too (curate.config.RANGES), so -1 or 2**66 is a
# usage error naming --seed, never a traceback from numpy.
SEED = click.IntRange(0, 2**32 - 1)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print a JSON report on stdout.")(
        func
    )


def rejects_option(func: F) -> F:
    return click.option(
        "--rejects",
        type=click.Path(dir_okay=False),
        help="Write every dropped record (line, reason, record) to this JSONL file.",
    )(func)


def allow_rejects_option(func: F) -> F:
    return click.option(
        "--allow-rejects",
        is_flag=True,
        help="Exit 0 even when records were rejected (they are still written to the rejects "
        "file): for pipelines that expect some rejects. Empty input and failed checks "
        "still exit 1.",
    )(func)


def exit_code(
    command: str,
    records: int,
    rejected: int,
    allow_rejects: bool = False,
    flagged: list[str] | tuple[str, ...] = (),
) -> int:
    """The exit-code contract every command follows, with the reason for a 1 on stderr.

    0: clean (records read, none rejected, nothing flagged). 1: the input holds no records,
    a check flagged something (a gate, leakage), or a record was rejected (unless
    ``allow_rejects``). 2 (usage / config / I/O) is raised before this point.
    """
    reasons = list(flagged)
    if records == 0:
        reasons.append("the input holds no records")
    elif rejected and not allow_rejects:
        reasons.append(
            f"{rejected:,} of {records:,} records rejected (--allow-rejects: exit 0 for that)"
        )
    if reasons:  # one line, whatever the number of reasons
        echo_err(f"{command}: exit 1: {'; '.join(reasons)}")
    return EXIT_FINDINGS if reasons else EXIT_OK


class CurateGroup(click.Group):
    """The root group: Ctrl-C ends any command with exit 130 and one line, not Click's
    "Aborted!" and exit 1 (which means findings here)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # Outputs are written atomically (temp file, then rename): none is left half-done.
            echo_err(f"{ctx.invoked_subcommand or 'curate'}: interrupted")
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


@click.group(
    cls=CurateGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="curate")
def main() -> None:
    """Audit, clean, deduplicate and split LLM fine-tuning data, then fine-tune on it.

    Example:

        curate run sample_data/sample.jsonl -o out/
    """
    # transformers imports bitsandbytes whenever it is installed, and bitsandbytes then warns
    # that an optional, hub-downloaded CPU kernel is missing: noise for every command that
    # loads a model (its built-in CPU path is the one we use and test).
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
