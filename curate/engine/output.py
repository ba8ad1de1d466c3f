"""``--shards N``: each split also written as N JSONL shards, for readers that fan out."""

from __future__ import annotations

from pathlib import Path

from curate.records import atomic_writer

SHARDS_DIR = "shards"


def write_shards(root: Path, splits: list[str], n: int) -> dict[str, list[str]]:
    """Cut ``root/<split>.jsonl`` into ``n`` shards of consecutive lines under ``root/shards``.

    The shards of a split, concatenated in name order, are byte for byte its JSONL file, so
    the manifest's counts (and the line order) hold for both. Returns split -> shard paths
    relative to ``root``.
    """
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
        names = []
        with open(src, "rb") as fh:
            for k in range(n):
                name = f"{split}-{k:05d}-of-{n:05d}.jsonl"
                with atomic_writer(folder / name, "wb") as dst:
                    for _ in range(per + (1 if k < extra else 0)):
                        dst.write(fh.readline())
                names.append(f"{SHARDS_DIR}/{name}")
        out[split] = names
    return out
