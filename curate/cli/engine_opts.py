"""``--engine`` / ``--ray-address`` (run, dedup, audit) and ``--shards`` (run), defined once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

ENGINE_FLAGS = {"engine": "engine", "ray_address": "ray_address"}


def engine_options(func: F) -> F:
    """Add ``--engine local|ray`` and ``--ray-address`` to a command."""
    func = click.option(
        "--ray-address",
        metavar="ADDR",
        help="Ray cluster for --engine ray (default: auto when RAY_ADDRESS is set, else a "
        "local Ray started for this run).",
    )(func)
    return click.option(
        "--engine",
        type=click.Choice(["local", "ray"]),
        default="local",
        show_default=True,
        help="Where the row-heavy stages run: this process, or a Ray cluster (pip install "
        "'curate-finetune-data[ray]'; see docs/ray.md).",
    )(func)  # type: ignore[return-value]


def shards_option(func: F) -> F:
    """Add ``--shards N`` and ``--shard-format jsonl|parquet`` to a command."""
    func = click.option(
        "--shard-format",
        type=click.Choice(["jsonl", "parquet"]),
        default=None,
        help="Format of the --shards files (default: jsonl).",
    )(func)
    return click.option(
        "--shards",
        type=click.IntRange(min=0),
        default=0,
        show_default=True,
        help="Also write each split as N shards under DIR/shards/ (0: none).",
    )(func)  # type: ignore[return-value]
