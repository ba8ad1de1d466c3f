"""Helpers for dedup tests: small chat rows with planted duplicates."""

from __future__ import annotations

import json
from pathlib import Path

from curate.records import Record

WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
    "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu"
).split()


def chat(user: str, assistant: str, **extra: object) -> dict:
    return {
        "messages": [
            {"role": "user", "content": user},
            {"role": "assistant", "content": assistant},
        ],
        **extra,
    }


def long_text(seed: int, n: int = 60) -> str:
    """Deterministic text of ``n`` words that shares few 5-word shingles with other seeds."""
    out = []
    x = seed * 7919 + 17
    for _ in range(n):
        x = (x * 1103515245 + 12345) % (1 << 31)
        out.append(WORDS[x % len(WORDS)])
    return " ".join(out)


def records_of(rows: list[dict], source: str = "mem.jsonl") -> list[Record]:
    return [Record(source, i, row, i) for i, row in enumerate(rows, start=1)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
