"""Write a split: JSONL per side (always), optional Parquet and an HF ``DatasetDict``."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from curate.errors import InputError
from curate.records import atomic_writer, record_line, to_columnar, write_lines

if TYPE_CHECKING:
    from curate.split import SplitResult

REPORT_NAME = "split_report.json"


def write_report(path: Path, report: dict[str, Any]) -> None:
    with atomic_writer(path, "wb") as fh:
        fh.write(orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE))


def _write_parquet(path: Path, rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # pa.array infers one struct type over all rows (from_pylist looks at the first only).
        cols = [to_columnar(r) for r in rows]
        table = pa.Table.from_struct_array(pa.array(cols)) if rows else pa.table({})
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InputError(f"{path}: records do not fit one Parquet schema: {exc}") from exc
    with atomic_writer(path, "wb") as fh:
        pq.write_table(table, fh)


def _write_hf(path: Path, splits: dict[str, list[dict[str, Any]]]) -> None:
    import datasets

    datasets.disable_progress_bars()
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        dd = datasets.DatasetDict(
            {k: datasets.Dataset.from_list([to_columnar(r) for r in v]) for k, v in splits.items()}
        )
        dd.save_to_disk(str(tmp))
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, old / "x")
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(tmp)
        raise


def write_splits(
    result: SplitResult,
    out_dir: str | os.PathLike[str],
    *,
    parquet: bool = False,
    hf_dataset: bool = False,
    report: bool = True,
) -> dict[str, Path]:
    """Write ``<side>.jsonl`` for each side (+ Parquet, ``hf/``, ``split_report.json``).

    Returns name -> path of every file or folder written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for name, recs in result.splits.items():
        path = out / f"{name}.jsonl"
        # A packed record's bytes are written as they are (``record_line``): no parse, no
        # list of every parsed record beside the records.
        write_lines(path, map(record_line, recs))
        written[path.name] = path
        if parquet:
            ppath = out / f"{name}.parquet"
            _write_parquet(ppath, [r.data for r in recs])
            written[ppath.name] = ppath
    if hf_dataset:
        _write_hf(out / "hf", {k: [r.data for r in recs] for k, recs in result.splits.items()})
        written["hf"] = out / "hf"
    if report:
        write_report(out / REPORT_NAME, result.report())
        written[REPORT_NAME] = out / REPORT_NAME
    return written
