"""Sharded inputs: a directory or glob of JSONL(.gz) / JSON / Parquet files read as one dataset.

Shards are read in sorted path order; each record keeps its own shard as ``source`` and its
line (row) number inside that shard, so line attribution stays exact. Both engines use the
same order, so "first" means the same record on one machine and on a cluster.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from pathlib import Path

from curate.errors import InputError
from curate.records import BadLine, ReadStats, Record, RecordReader

SHARD_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".ndjson", ".parquet")
MAX_BLANK_LINE_NUMBERS = 1000
_GLOB_CHARS = set("*?[")


def _is_shard(p: Path) -> bool:
    name = p.name
    return p.is_file() and not name.startswith(".") and name.endswith(SHARD_SUFFIXES)


def expand(path: str) -> list[str]:
    """The shard files ``path`` names, sorted: itself, a folder's data files, or a glob's matches.

    A Hugging Face dataset folder (``dataset_info.json``) and ``-`` (stdin) stay one input.
    """
    if path == "-":
        return [path]
    p = Path(path)
    if p.is_dir():
        if (p / "dataset_info.json").exists() or (p / "dataset_dict.json").exists():
            return [path]
        found = sorted(str(q) for q in p.rglob("*") if _is_shard(q))
        if not found:
            raise InputError(f"{path}: folder holds no data files ({', '.join(SHARD_SUFFIXES)})")
        return found
    if not p.exists() and _GLOB_CHARS & set(path):
        found = sorted(q for q in glob.glob(path, recursive=True) if _is_shard(Path(q)))
        if not found:
            raise InputError(f"{path}: the pattern matches no data files")
        return found
    return [path]


def merge_read_stats(into: ReadStats, part: ReadStats) -> None:
    """Add one shard's reader counts to the dataset's (formats differ -> ``mixed``)."""
    if into.format == "unknown":
        into.format = part.format
    elif part.format not in ("unknown", into.format):
        into.format = "mixed"
    into.physical_lines += part.physical_lines
    into.blank_lines += part.blank_lines
    into.records += part.records
    into.bad_lines += part.bad_lines
    room = MAX_BLANK_LINE_NUMBERS - len(into.blank_line_numbers)
    into.blank_line_numbers.extend(part.blank_line_numbers[: max(room, 0)])


class ShardedReader:
    """``RecordReader`` over several shards, one after the other; ``stats`` sums them.

    ``stats`` is the same object throughout (callers may hold it before iterating); a
    shard's counts are added once that shard has been read.
    """

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self.readers = [RecordReader(p) for p in paths]  # fails now on a missing shard
        self.stats = ReadStats()

    def __iter__(self) -> Iterator[Record | BadLine]:
        for reader in self.readers:
            yield from reader
            merge_read_stats(self.stats, reader.stats)


def open_input(path: str | os.PathLike[str]) -> RecordReader | ShardedReader:
    """A reader for ``path``: the plain ``RecordReader`` for one file, else ``ShardedReader``."""
    paths = expand(str(path))
    if len(paths) == 1 and paths[0] == str(path):
        return RecordReader(path)
    return ShardedReader(paths)
