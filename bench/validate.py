"""Benchmark `curate validate` against the floor: a bare orjson parse loop over the same file.

Not a test. Generates chat JSONL with ../shared/bench/gen_chat.py (cached in a temp dir), then
prints, in one run: the parse-loop time, the library call (`validate_file`) and the CLI, their
ratios to the floor, and peak memory of a validation run at two file sizes (to show it is flat).

    .venv/bin/python bench/validate.py --rows 200000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gen_data import GEN, generate

REPO = Path(__file__).resolve().parent.parent

FLOOR = """
import orjson, sys
with open(sys.argv[1], "rb") as f:
    for line in f:
        try:
            orjson.loads(line)
        except orjson.JSONDecodeError:
            pass
"""
LIBRARY = """
import sys
from curate.validate import validate_file
r = validate_file(sys.argv[1])
"""
PEAK = """
import resource, sys, time
t, c = time.perf_counter(), time.process_time()
exec(sys.argv[2])
dc, dt = time.process_time() - c, time.perf_counter() - t
print(dc, dt, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def timed(code: str, path: Path) -> tuple[float, float, int]:
    """(CPU seconds, wall seconds, peak RSS in KiB) of ``code`` in a fresh interpreter.

    CPU time is the fairer figure on a shared machine (other jobs inflate wall time)."""
    res = subprocess.run(
        [sys.executable, "-c", PEAK, str(path), code], check=True, capture_output=True, text=True
    )
    cpu, wall, rss = res.stdout.split()
    return float(cpu), float(wall), int(rss)


def children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--small", type=int, default=0, help="second size for memory (rows/4)")
    ap.add_argument("--repeat", type=int, default=3, help="best of N (shared machines are noisy)")
    ap.add_argument("--gen", type=Path, default=GEN)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "curate-bench")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    small = args.small or args.rows // 4
    big_file, _ = generate(args.rows, 1, args.workdir, gen=args.gen, quiet=True)
    small_file, _ = generate(small, 1, args.workdir, gen=args.gen, quiet=True)
    size_mb = big_file.stat().st_size / 1e6

    # Interleave the runs so all see the same machine load; keep the best of each.
    curate = Path(sys.executable).with_name("curate")
    env = {**os.environ, "NO_COLOR": "1"}
    floor, lib, cli_runs = [], [], []
    for _ in range(args.repeat):
        floor.append(timed(FLOOR, big_file))
        lib.append(timed(LIBRARY, big_file))
        t, c = time.perf_counter(), children_cpu()
        cli = subprocess.run(
            [str(curate), "validate", str(big_file), "--json"],
            capture_output=True,
            text=True,
            env=env,
        )
        cli_runs.append((children_cpu() - c, time.perf_counter() - t))
    f_cpu, f_wall, rss_floor = min(floor)
    l_cpu, l_wall, rss_lib = min(lib)
    c_cpu, c_wall = min(cli_runs)
    report = json.loads(cli.stdout)
    rss_small = timed(LIBRARY, small_file)[2]

    print(f"file: {big_file} ({args.rows:,} rows, {size_mb:.0f} MB); best of {args.repeat}")
    print(f"{'step':<50}{'CPU s':>8}{'x floor':>9}{'wall s':>8}{'x floor':>9}")
    for label, cpu, wall in (
        ("orjson parse loop (floor)", f_cpu, f_wall),
        ("validate_file (bundled schema + checks + tokens)", l_cpu, l_wall),
        ("curate validate --json (CLI, incl. startup)", c_cpu, c_wall),
    ):
        print(f"{label:<50}{cpu:>8.2f}{cpu / f_cpu:>9.2f}{wall:>8.2f}{wall / f_wall:>9.2f}")
    print(
        f"CLI: exit {cli.returncode}, records {report['records']:,}, valid {report['valid']:,},"
        f" errors {report['stats']['errors_by_code']}"
    )
    print(f"{'peak RSS (MiB)':<50}{'rows':>9}{'MiB':>9}")
    print(f"{'  orjson parse loop':<50}{args.rows:>9,}{rss_floor / 1024:>9.0f}")
    print(f"{'  validate_file':<50}{small:>9,}{rss_small / 1024:>9.0f}")
    print(f"{'  validate_file':<50}{args.rows:>9,}{rss_lib / 1024:>9.0f}")


if __name__ == "__main__":
    main()
