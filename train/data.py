"""Find and read the training data: a split folder, a single file, or an HF DatasetDict folder.

Roles: ``train`` trains; ``eval`` gives the eval loss during training. The eval rows come from a
validation split (``val`` / ``validation`` / ``valid`` / ``eval`` / ``dev``) when there is one,
else from a seeded slice carved out of train (and then not trained on). A ``test`` split is
never read here: it is held out for ``curate eval``, and a model steered by its loss would be
judged on data it has already influenced.

Every input line comes back, as a ``Record`` or a ``BadLine``; pre-flight decides what to do
with the bad ones, so nothing is lost silently.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

from curate.errors import InputError
from curate.reader import read_chat
from curate.records import BadLine, Record

SPLIT_NAMES = {
    "train": ("train",),
    "eval": ("val", "validation", "valid", "eval", "dev"),
    "held_out": ("test",),
}
SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".parquet")
# Without a validation split: this share of train (at most CARVE_MAX rows) becomes the eval
# slice, and only when train has at least CARVE_MIN_TRAIN rows (else too few to spare).
CARVE_FRACTION = 0.05
CARVE_MAX = 64
CARVE_MIN_TRAIN = 40
MANIFEST = "manifest.json"

Item = Record | BadLine


@dataclass
class TrainData:
    """The rows of each role and where they came from.

    ``eval_role`` is ``"val"`` (a validation split), ``"carved"`` (a slice of train) or None.
    ``held_out`` names the files that exist but are deliberately not read (test).
    """

    train: list[Item]
    eval: list[Item] | None
    train_source: str
    eval_source: str | None
    eval_role: str | None = None
    held_out: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def roles(self) -> list[str]:
        """One line per file: which part it plays in this run."""
        lines = [f"train: {self.train_source} ({len(self.train)} rows)"]
        if self.eval_role == "val":
            lines.append(f"eval loss: {self.eval_source} ({len(self.eval or [])} rows)")
        elif self.eval_role == "carved":
            lines.append(
                f"eval loss: {len(self.eval or [])} rows carved from train (seeded; not trained "
                "on), as there is no val split"
            )
        else:
            lines.append("eval loss: none (too few train rows to carve a slice, and no val split)")
        for h in self.held_out:
            lines.append(f"held out, not read: {h} (for curate eval)")
        return lines


def _read(path: Path) -> list[Item]:
    """Every row as read (chat, as ``curate run`` writes it), bad lines kept for pre-flight."""
    return list(read_chat(path, convert=False, on_bad="keep"))


def _find(folder: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        for suffix in SUFFIXES:
            p = folder / f"{name}{suffix}"
            if p.is_file():
                return p
    return None


def carve(items: list[Item], seed: int) -> tuple[list[Item], list[Item]]:
    """Split ``items`` into (train, eval slice): a seeded sample of readable records."""
    records = [i for i, it in enumerate(items) if isinstance(it, Record)]
    if len(records) < CARVE_MIN_TRAIN:
        return items, []
    k = max(1, min(CARVE_MAX, round(len(records) * CARVE_FRACTION)))
    chosen = set(random.Random(seed).sample(records, k))
    keep = [it for i, it in enumerate(items) if i not in chosen]
    return keep, [items[i] for i in sorted(chosen)]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_manifest(folder: Path, used: list[Path]) -> list[str]:
    """Compare the files read against the run folder's ``manifest.json``; notes on mismatch."""
    path = folder / MANIFEST
    if not path.is_file():
        return []
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: unreadable manifest: {exc}") from exc
    notes = []
    hashes = manifest.get("sha256") or {}
    for p in used:
        want = hashes.get(p.name)
        if want is None:
            notes.append(f"{p.name} is not listed in {path}: not written by this curate run")
        elif want != _sha256(p):
            notes.append(f"{p.name} changed since `curate run` wrote it ({path} has its hash)")
    return notes


def load_data(path: str | os.PathLike[str], seed: int = 0) -> TrainData:
    """Read ``path``: a folder with ``train.jsonl`` (+ ``val.jsonl``; ``test.jsonl`` is left
    alone), an HF dataset folder (``save_to_disk``), or one file (eval slice carved from it).
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{path}: no such file or directory")
    if p.is_dir():
        if (p / "dataset_dict.json").exists() or (p / "dataset_info.json").exists():
            return _load_hf(p, seed)
        train = _find(p, SPLIT_NAMES["train"])
        if train is None:
            raise InputError(
                f"{path}: no train.jsonl (or train.json / .jsonl.gz / .parquet) in this folder; "
                "give a split folder from `curate split` / `curate run`, or a single file"
            )
        val = _find(p, SPLIT_NAMES["eval"])
        test = _find(p, SPLIT_NAMES["held_out"])
        data = _assemble(
            _read(train),
            _read(val) if val is not None else None,
            str(train),
            str(val) if val is not None else None,
            seed,
        )
        data.held_out = [str(test)] if test is not None else []
        data.notes = check_manifest(p, [f for f in (train, val) if f is not None])
        return data
    return _assemble(_read(p), None, str(p), None, seed)


def _assemble(
    train: list[Item], val: list[Item] | None, train_src: str, val_src: str | None, seed: int
) -> TrainData:
    if val is not None:
        return TrainData(train, val, train_src, val_src, "val")
    kept, sliced = carve(train, seed)
    if not sliced:
        return TrainData(train, None, train_src, None, None)
    return TrainData(kept, sliced, train_src, f"{train_src} (carved eval slice)", "carved")


def _load_hf(p: Path, seed: int) -> TrainData:
    splits: dict[str, list[Item]] = {}
    for item in _read(p):
        source = item.source
        name = source[source.rfind("[") + 1 : -1] if source.endswith("]") else "train"
        splits.setdefault(name, []).append(item)
    train_name = next((n for n in SPLIT_NAMES["train"] if n in splits), None)
    if train_name is None:
        raise InputError(f"{p}: the dataset has no 'train' split (splits: {', '.join(splits)})")
    val_name = next((n for n in SPLIT_NAMES["eval"] if n in splits), None)
    data = _assemble(
        splits[train_name],
        splits[val_name] if val_name else None,
        f"{p}[{train_name}]",
        f"{p}[{val_name}]" if val_name else None,
        seed,
    )
    data.held_out = [f"{p}[{n}]" for n in SPLIT_NAMES["held_out"] if n in splits]
    return data
