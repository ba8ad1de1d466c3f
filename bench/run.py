"""Benchmark `curate run` end to end: wall time and peak memory, next to a parse-only floor.

    python bench/run.py --rows 100000                  # semantic on, fast embedder
    python bench/run.py --rows 1000000 --no-semantic   # the 1M-row memory check

Generates (or reuses) rows with ../shared/bench/gen_chat.py, then runs `.venv/bin/curate run`
as a child process and polls its resident memory (psutil, the whole process tree). The floor
is a bare loop that parses every line with orjson and writes a random 90/10 split.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import orjson
import psutil
from gen_data import generate

ROOT = Path(__file__).resolve().parents[1]


def floor(path: Path, out: Path) -> float:
    """Parse every line and write a random split: what any tool must at least do."""
    t0 = time.perf_counter()
    rng = random.Random(0)
    out.mkdir(parents=True, exist_ok=True)
    with (
        open(path, "rb") as fh,
        open(out / "train.jsonl", "wb") as tr,
        open(out / "test.jsonl", "wb") as te,
    ):
        for line in fh:
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            (te if rng.random() < 0.1 else tr).write(orjson.dumps(obj) + b"\n")
    return time.perf_counter() - t0


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float, int]:
    """(wall seconds, CPU seconds, peak RSS GiB of the process tree, exit code).

    CPU seconds are reported too because this machine is shared: wall time stretches with
    other people's load, CPU time much less.
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=env)
    ps = psutil.Process(proc.pid)
    peak, cpu = 0, 0.0
    while proc.poll() is None:
        try:
            with ps.oneshot():
                rss = ps.memory_info().rss
                t = ps.cpu_times()
                cpu = t.user + t.system
            peak = max(peak, rss)
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.2)
    return time.perf_counter() - t0, cpu, peak / 2**30, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-semantic", action="store_true")
    ap.add_argument("--model", default="fast", help="dedup.model for the semantic pass")
    ap.add_argument("--work", default=os.environ.get("BENCH_DIR", "/tmp/curate-bench"))
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    data, _ = generate(a.rows, a.seed, work)
    out = Path(tempfile.mkdtemp(dir=work))
    try:
        t_floor = floor(data, out / "floor")
        cfg = out / "curate.yaml"
        cfg.write_text(
            f"dedup:\n  model: {a.model}\n  methods: [exact, near"
            f"{'' if a.no_semantic else ', semantic'}]\n"
            "audit:\n  label: category\nsplit:\n  stratify: [category]\n"
        )
        cmd = [
            str(ROOT / ".venv" / "bin" / "curate"),
            "run",
            str(data),
            "-o",
            str(out / "run"),
            "--config",
            str(cfg),
        ]
        if a.no_semantic:
            cmd.append("--no-semantic")
        # A fresh embedding cache: the figure is a cold run, not a cache hit.
        env = {**os.environ, "CURATE_CACHE_DIR": str(out / "cache")}
        secs, cpu, peak, rc = measure(cmd, env)
        manifest = json.loads((out / "run" / "manifest.json").read_text())
        print(f"rows {a.rows:,}  semantic {'off' if a.no_semantic else a.model}  exit {rc}")
        print(f"{'':24}{'wall s':>10}{'cpu s':>10}{'rows/s':>10}{'peak GiB':>10}")
        print(f"{'floor (parse+split)':24}{t_floor:10.1f}{'':>10}{a.rows / t_floor:10.0f}")
        print(f"{'curate run':24}{secs:10.1f}{cpu:10.1f}{a.rows / secs:10.0f}{peak:10.2f}")
        print(f"ratio to floor: {secs / t_floor:.1f}x")
        print(
            "outputs",
            manifest["outputs"],
            "rejected",
            manifest["rejected"],
            "balanced",
            manifest["balanced"],
        )
        print("rejected_by_reason", manifest["rejected_by_reason"])
    finally:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
