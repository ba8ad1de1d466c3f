"""``--engine`` / ``--ray-address`` (run, dedup, audit) and ``--shards`` (run), defined once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from curate.cli.options import field_option

F = TypeVar("F", bound=Callable[..., Any])


def engine_options(func: F) -> F:
    """Add ``--engine local|ray`` and ``--ray-address`` (fields of ``RunOptions``)."""
    func = field_option(
        "run",
        "ray_address",
        metavar="ADDR",
        help="Ray cluster for --engine ray (default: auto when RAY_ADDRESS is set, else a "
        "local Ray started for this run).",
    )(func)
    return field_option(
        "run",
        "engine",
        type=click.Choice(["local", "ray"]),
        help="Where the row-heavy stages run: this process, or a Ray cluster (pip install "
        "'curate-finetune-data[ray]'; see docs/ray.md).",
    )(func)


def shards_option(func: F) -> F:
    """Add ``--shards N`` and ``--shard-format jsonl|parquet`` (fields of ``RunOptions``)."""
    func = field_option(
        "run",
        "shard_format",
        type=click.Choice(["jsonl", "parquet"]),
        help="Format of the --shards files.",
    )(func)
    return field_option(
        "run",
        "shards",
        type=click.IntRange(min=0),
        help="Also write each split as N shards under DIR/shards/ (0: none).",
    )(func)
