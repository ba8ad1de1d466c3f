"""Find and read the training data: a split folder, a single file, or an HF DatasetDict folder.

Every input line comes back, as a ``Record`` or a ``BadLine``; pre-flight decides what to do
with the bad ones, so nothing is lost silently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from curate.errors import InputError
from curate.records import BadLine, Record, RecordReader

SPLIT_NAMES = {"train": ("train",), "test": ("test", "validation", "valid", "eval")}
SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".parquet")

Item = Record | BadLine


@dataclass
class TrainData:
    """The rows of each split and where they came from."""

    train: list[Item]
    test: list[Item] | None
    train_source: str
    test_source: str | None


def _find(folder: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        for suffix in SUFFIXES:
            p = folder / f"{name}{suffix}"
            if p.is_file():
                return p
    return None


def load_data(path: str | os.PathLike[str]) -> TrainData:
    """Read ``path``: a folder with ``train.jsonl`` (+ ``test.jsonl``), an HF dataset folder
    (``save_to_disk``; splits named train / test or validation), or one file (no eval split).
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{path}: no such file or directory")
    if p.is_dir():
        if (p / "dataset_dict.json").exists() or (p / "dataset_info.json").exists():
            return _load_hf(p)
        train = _find(p, SPLIT_NAMES["train"])
        if train is None:
            raise InputError(
                f"{path}: no train.jsonl (or train.json / .jsonl.gz / .parquet) in this folder; "
                "give a split folder from `curate split` / `curate run`, or a single file"
            )
        test = _find(p, SPLIT_NAMES["test"])
        return TrainData(
            train=list(RecordReader(train)),
            test=list(RecordReader(test)) if test is not None else None,
            train_source=str(train),
            test_source=str(test) if test is not None else None,
        )
    return TrainData(list(RecordReader(p)), None, str(p), None)


def _load_hf(p: Path) -> TrainData:
    splits: dict[str, list[Item]] = {}
    for item in RecordReader(p):
        source = item.source
        name = source[source.rfind("[") + 1 : -1] if source.endswith("]") else "train"
        splits.setdefault(name, []).append(item)
    train_name = next((n for n in SPLIT_NAMES["train"] if n in splits), None)
    if train_name is None:
        raise InputError(f"{p}: the dataset has no 'train' split (splits: {', '.join(splits)})")
    test_name = next((n for n in SPLIT_NAMES["test"] if n in splits), None)
    return TrainData(
        train=splits[train_name],
        test=splits[test_name] if test_name else None,
        train_source=f"{p}[{train_name}]",
        test_source=f"{p}[{test_name}]" if test_name else None,
    )
