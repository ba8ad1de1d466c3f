"""Benchmark data: rows from ../shared/bench/gen_chat.py, generated once and reused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GEN = Path(__file__).resolve().parents[2] / "shared" / "bench" / "gen_chat.py"


def generate(
    rows: int, seed: int, workdir: Path, gen: Path = GEN, quiet: bool = False
) -> tuple[Path, Path]:
    """(data JSONL, truth JSON) for ``rows`` rows with ``seed``, made on first use."""
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / f"chat-{rows}-{seed}.jsonl"
    truth = workdir / f"chat-{rows}-{seed}.truth.json"
    if not data.exists() or not truth.exists():
        print(f"generating {rows:,} rows with {gen.name} ...", file=sys.stderr)
        tmp = data.with_suffix(".part")
        args = ["--rows", str(rows), "--seed", str(seed), "--out", str(tmp), "--truth", str(truth)]
        subprocess.run(
            [sys.executable, str(gen), *args],
            check=True,
            stdout=subprocess.DEVNULL if quiet else None,
        )
        tmp.rename(data)  # a killed generation never passes for a finished file
    return data, truth
