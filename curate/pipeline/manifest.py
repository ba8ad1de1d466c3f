"""The run manifest: what went in, what came out, and proof that nothing was lost."""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"
VERSIONED = (
    "curate-finetune-data",
    "numpy",
    "orjson",
    "datasketch",
    "faiss-cpu",
    "sentence-transformers",
    "model2vec",
    "langdetect",
    "pyarrow",
    "datasets",
)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def output_hashes(root: Path, known: Mapping[str, str] | None = None) -> dict[str, str]:
    """relative path -> sha256 of every file under ``root`` except the manifest itself.

    ``known``: hashes already taken of files that have not changed since (``HashAhead``).
    """
    out = {}
    known = known or {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != MANIFEST_NAME:
            rel = p.relative_to(root).as_posix()
            got = known.get(rel)
            out[rel] = got if got is not None else sha256_file(p)
    return out


class HashAhead:
    """The sha256 of files already final (the data files, rejects), taken in a thread while
    the run writes the rest (report, page, card). ``hashlib`` releases the GIL while it
    hashes, so this runs beside the page's rendering instead of after it (~1 GB at 1M rows).

    A context manager: leaving it (a failed run included) stops the thread. A file changed
    after its hash was queued (size or mtime) is hashed again by ``output_hashes``.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST_NAME)
        self.stats = [_stamp(p) for p in self.files]
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="curate-sha256")
        self.futures = [self.pool.submit(sha256_file, p) for p in self.files]

    def __enter__(self) -> HashAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def result(self) -> dict[str, str]:
        """relative path -> sha256 of the files that have not changed since this started."""
        return {
            p.relative_to(self.root).as_posix(): f.result()
            for p, stamp, f in zip(self.files, self.stats, self.futures, strict=True)
            if p.is_file() and _stamp(p) == stamp
        }


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def verify(root: Path, manifest: dict[str, Any]) -> list[str]:
    """Files whose content no longer matches the manifest (empty list: all good)."""
    bad = []
    for rel, digest in manifest.get("sha256", {}).items():
        p = root / rel
        if not p.is_file() or sha256_file(p) != digest:
            bad.append(rel)
    return bad
