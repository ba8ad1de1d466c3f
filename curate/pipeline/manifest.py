"""The run manifest: what went in, what came out, and proof that nothing was lost."""

from __future__ import annotations

import hashlib
import platform
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


def output_hashes(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under ``root`` except the manifest itself."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != MANIFEST_NAME:
            out[p.relative_to(root).as_posix()] = sha256_file(p)
    return out


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
