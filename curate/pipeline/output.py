"""``--shards N``: each split also written as N shards (JSONL or Parquet), for readers that
fan out."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import IO, Any

import orjson

from curate.errors import ConfigError, InputError
from curate.records import atomic_writer

SHARDS_DIR = "shards"
SHARD_FORMATS = ("jsonl", "parquet")


def check_shard_format(fmt: str) -> None:
    if fmt not in SHARD_FORMATS:
        raise ConfigError(
            f"run.shard_format: unknown shard format {fmt!r}; choose from "
            f"{', '.join(SHARD_FORMATS)}"
        )


def write_shards(root: Path, splits: list[str], n: int, fmt: str = "jsonl") -> dict[str, list[str]]:
    """Cut ``root/<split>.jsonl`` into ``n`` shards of consecutive records under ``root/shards``.

    JSONL shards, concatenated in name order, are byte for byte the split's JSONL file;
    Parquet shards hold the same records in the same order, all with one schema (inferred
    over the whole split, as ``--parquet`` does), so a reader can open them as one dataset
    and their row counts add up to the manifest's. Returns split -> shard paths relative to
    ``root``.
    """
    check_shard_format(fmt)
    out: dict[str, list[str]] = {}
    folder = root / SHARDS_DIR
    folder.mkdir(exist_ok=True)
    for split in splits:
        src = root / f"{split}.jsonl"
        if not src.exists():
            continue
        with open(src, "rb") as fh:
            total = sum(1 for _ in fh)
        per, extra = divmod(total, n)
        sizes = [per + (1 if k < extra else 0) for k in range(n)]
        names = [f"{split}-{k:05d}-of-{n:05d}.{fmt}" for k in range(n)]
        if fmt == "parquet":
            _parquet_shards(src, folder, names, sizes)
        else:
            with open(src, "rb") as fh:
                for name, size in zip(names, sizes, strict=True):
                    with atomic_writer(folder / name, "wb") as dst:
                        for _ in range(size):
                            dst.write(fh.readline())
        out[split] = [f"{SHARDS_DIR}/{name}" for name in names]
    return out


def _parquet_shards(src: Path, folder: Path, names: list[str], sizes: list[int]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from curate.records import to_columnar

    with open(src, "rb") as fh:
        cols = [to_columnar(orjson.loads(line)) for line in fh]
    try:
        # One type over all rows (as curate.split.output's --parquet): every shard the same.
        table = pa.Table.from_struct_array(pa.array(cols)) if cols else pa.table({})
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"{src}: records do not fit one Parquet schema: {exc}") from exc
    del cols
    start = 0
    for name, size in zip(names, sizes, strict=True):
        with atomic_writer(folder / name, "wb") as dst:
            pq.write_table(table.slice(start, size), dst)
        start += size


def dump_json(path: Path, doc: dict) -> None:
    """``report.json`` or the manifest, written atomically (``write_json``)."""
    with atomic_writer(path, "wb") as fh:
        write_json(fh, doc)


def write_json(fh: IO[bytes], doc: dict, findings_at: tuple[str, ...] = ("audit",)) -> None:
    """``doc`` as ``orjson`` with two-space indents and a final newline, except that the
    ``findings`` of the dict at ``findings_at`` may be a sequence of ``Finding`` that is not a
    list (``curate.engine.spill.SpilledFindings``: the Ray driver keeps them in a file). Those
    are written one at a time, each as ``Finding.to_dict`` in the place and with the
    indentation that the whole list would have had: the bytes are the same."""
    option = orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
    holder: Any = doc
    for key in findings_at:
        holder = holder.get(key) if isinstance(holder, dict) else None
    found = holder.get("findings") if isinstance(holder, dict) else None
    if found is None or isinstance(found, list):
        fh.write(orjson.dumps(doc, option=option, default=str))
        return
    # A mark no input value can equal (a label or config string written before the findings
    # would otherwise take their place).
    lazy = "\x00" + secrets.token_hex(16)
    shell = _replaced(doc, findings_at, {**holder, "findings": lazy})
    text = orjson.dumps(shell, option=option, default=str)
    mark = orjson.dumps(lazy)
    if text.count(mark) != 1:
        raise RuntimeError("JSON report: the findings' place is not unique")
    head, _, tail = text.partition(mark)
    indent = b" " * (len(head) - head.rfind(b"\n") - 1 - len(b'"findings": ') + 2)
    fh.write(head)
    if not len(found):
        fh.write(b"[]")
    else:
        fh.write(b"[\n")
        for k, f in enumerate(found):
            item = orjson.dumps(f.to_dict(), option=orjson.OPT_INDENT_2, default=str)
            fh.write((b",\n" if k else b"") + indent + item.replace(b"\n", b"\n" + indent))
        fh.write(b"\n" + indent[:-2] + b"]")
    fh.write(tail)


def _replaced(doc: dict, path: tuple[str, ...], value: dict) -> dict:
    """``doc`` with the dict at ``path`` replaced by ``value`` (copies along the path only)."""
    if not path:
        return value
    return {**doc, path[0]: _replaced(doc[path[0]], path[1:], value)}
