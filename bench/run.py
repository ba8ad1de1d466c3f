"""Benchmark `curate run` end to end, the baseline commit's code beside this tree's, in one run.

    python bench/run.py --rows 100000                   # semantic off and on, 34aaea4 vs new
    python bench/run.py --rows 1000000 --modes off      # the 1M-row check, semantic off
    python bench/run.py --rows 1000000 --modes off --workers 0,1 --growth-from 100000

Generates (or reuses) rows with ../shared/bench/gen_chat.py, then runs `.venv/bin/curate run`
as a child process (PYTHONPATH = the code under test) and polls its resident memory (psutil).
The machine is shared: compare the ratios of one run, not figures across runs. Each pair
also says whether the two codes wrote identical data files (the speed work must not change
them). The floor is a bare loop that parses every line with orjson and writes a random split.
``--workers`` runs the new code once per ``run.workers`` value (0: every CPU); ``--growth-from
N`` also runs it on N rows and prints the time per row at both sizes (linear growth: ~1.0x).
Peak memory is the whole process tree's: the run's own RSS plus the unique memory (USS) of
its worker processes; CPU seconds include the workers'.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import psutil
from baseline import BASELINE, baseline_tree
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


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float, int, float]:
    """(wall seconds, CPU seconds, peak memory GiB of the process tree, exit code, the run
    process's own CPU seconds).

    CPU seconds are reported too because this machine is shared: wall time stretches with
    other people's load, CPU time much less. Memory: the run's RSS plus its children's USS
    (forked workers share the parent's pages until they write them; RSS would count those
    twice). CPU: the run's own plus every descendant's (the fork server's workers too), as
    last seen while polling. The run's own CPU is the serial part: on an idle machine the
    run takes at least that long whatever its workers do, so it shows what a change to the
    serial path saves when other people's load stretches the wall time.
    """
    t0 = time.perf_counter()
    # The run's own progress lines would interleave with the table: they go to a log.
    log = Path(env.get("CURATE_CACHE_DIR", tempfile.gettempdir())).with_name("stderr.log")
    with open(log, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        ps = psutil.Process(proc.pid)
        peak, cpu, own = 0, 0.0, 0.0
        kid_cpu: dict[int, float] = {}  # last CPU seen per descendant (workers included)
        while proc.poll() is None:
            try:
                with ps.oneshot():
                    rss = ps.memory_info().rss
                    t = ps.cpu_times()
                    own = t.user + t.system
                    kids = ps.children(recursive=True)
                for kid in kids:
                    try:
                        rss += kid.memory_full_info().uss
                        k = kid.cpu_times()
                        kid_cpu[kid.pid] = k.user + k.system
                    except (psutil.NoSuchProcess, psutil.AccessDenied):
                        pass
                peak = max(peak, rss)
                # The workers are the fork server's children, never waited for by the run
                # itself: its children_* times would leave them out.
                cpu = own + sum(kid_cpu.values())
            except psutil.NoSuchProcess:
                pass
            time.sleep(0.2)
    if proc.returncode not in (0, 1):  # 1: records were rejected, as planted
        sys.stderr.write(log.read_text(errors="replace")[-3000:])
    return time.perf_counter() - t0, cpu, peak / 2**30, proc.returncode, own


def run_once(
    tree: Path, data: Path, work: Path, semantic: bool, model: str, workers: int | None = None
) -> dict:
    """One `curate run` with the code in ``tree``: times, peak memory, output digests.

    ``workers``: ``run.workers`` (None: not set, the baseline code has no such option)."""
    out = Path(tempfile.mkdtemp(dir=work))
    try:
        cfg = out / "curate.yaml"
        cfg.write_text(
            f"dedup:\n  model: {model}\n  methods: [exact, near"
            f"{', semantic' if semantic else ''}]\n"
            "audit:\n  label: category\nsplit:\n  stratify: [category]\n"
            + ("" if workers is None else f"run:\n  workers: {workers}\n")
        )
        cmd = [str(ROOT / ".venv" / "bin" / "curate"), "run", str(data), "-o", str(out / "run")]
        cmd += ["--config", str(cfg)] + ([] if semantic else ["--no-semantic"])
        # The code under test first on the path; a fresh embedding cache: a cold run.
        env = {
            **os.environ,
            "PYTHONPATH": str(tree),
            "CURATE_CACHE_DIR": str(out / "cache"),
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
        secs, cpu, peak, rc, own = measure(cmd, env)
        manifest = json.loads((out / "run" / "manifest.json").read_text())
        data_files = {k: v for k, v in manifest["sha256"].items() if k.endswith(".jsonl")}
        return {
            "wall": secs,
            "cpu": cpu,
            "run_cpu": own,
            "peak": peak,
            "rc": rc,
            "outputs": manifest["outputs"],
            "rejected": manifest["rejected_by_reason"],
            "data_sha": data_files,
            "report_sha": manifest["sha256"].get("report.json"),
            "page_sha": manifest["sha256"].get("report.html"),
        }
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _row(label: str, name: str, rows: int, r: dict) -> None:
    print(
        f"{label:<10}{name:<12}{r['wall']:9.1f}{r['cpu']:9.1f}{r['run_cpu']:9.1f}"
        f"{rows / r['wall']:9.0f}"
        f"{r['peak']:10.2f}{1e6 * r['wall'] / rows:8.0f}{r['rc']:>6}  {r['outputs']}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--modes", default="off,on", help="semantic modes to run: off, on or both")
    ap.add_argument("--model", default="fast", help="dedup.model for the semantic pass")
    ap.add_argument("--baseline", default=BASELINE, help="commit to run beside the working tree")
    ap.add_argument("--no-baseline", action="store_true", help="only the working tree")
    ap.add_argument("--workers", default="", help="run.workers values for the new code: 0,1")
    ap.add_argument("--growth-from", type=int, default=0, help="also run the new code on N rows")
    ap.add_argument("--work", default=os.environ.get("BENCH_DIR", "/tmp/curate-bench"))
    ap.add_argument("--data-dir", default=None, help="where the generated rows are (default: work)")
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    data_dir = Path(a.data_dir) if a.data_dir else work
    data, _ = generate(a.rows, a.seed, data_dir)
    settings = [None] if not a.workers else [int(w) for w in a.workers.split(",")]
    trees = [(f"new w={w}" if w is not None else "new", ROOT, w) for w in settings]
    if not a.no_baseline:
        trees.insert(0, (a.baseline, baseline_tree(a.baseline), None))
    t_floor = floor(data, Path(tempfile.mkdtemp(dir=work)) / "floor")
    print(f"rows {a.rows:,}; floor (orjson parse + random split) {t_floor:.1f} s; CPUs {cpus()}")
    print(
        f"{'semantic':<10}{'code':<12}{'wall s':>9}{'cpu s':>9}{'run cpu':>9}{'rows/s':>9}"
        f"{'peak GiB':>10}"
        f"{'us/row':>8}{'exit':>6}  outputs"
    )
    for mode in [m.strip() for m in a.modes.split(",") if m.strip()]:
        semantic = mode == "on"
        label = a.model if semantic else "off"
        got = {}
        for name, tree, w in trees:
            r = got[name] = run_once(tree, data, work, semantic, a.model, w)
            _row(label, name, a.rows, r)
        if not a.no_baseline:
            old = got[a.baseline]
            for name, new in got.items():
                if name == a.baseline:
                    continue
                same = old["data_sha"] == new["data_sha"]
                print(
                    f"{'':<10}{'ratio':<12}{old['wall'] / new['wall']:8.2f}x"
                    f"{old['cpu'] / new['cpu']:8.2f}x"
                    f"{old['run_cpu'] / new['run_cpu']:8.2f}x"
                    f"{'':>9}{old['peak'] / max(new['peak'], 1e-9):9.2f}x  ({a.baseline} / {name};"
                    f" > 1 = faster or smaller); train/val/test/rejects identical: {same}; "
                    f"report.json identical: {old['report_sha'] == new['report_sha']}; "
                    f"report.html identical: {old['page_sha'] == new['page_sha']}",
                    flush=True,
                )
                if not same:
                    print(f"{'':<22}rejected old {old['rejected']}")
                    print(f"{'':<22}rejected new {new['rejected']}")
        if a.growth_from:
            small, _ = generate(a.growth_from, a.seed, data_dir)
            name, tree, w = trees[-1]
            s = run_once(tree, small, work, semantic, a.model, w)
            _row(label, name, a.growth_from, s)
            big = got[name]
            per_small, per_big = s["wall"] / a.growth_from, big["wall"] / a.rows
            cpu_small, cpu_big = s["cpu"] / a.growth_from, big["cpu"] / a.rows
            print(
                f"{'':<10}growth {a.growth_from:,} -> {a.rows:,} rows ({name}): wall per row "
                f"{1e6 * per_small:.0f} -> {1e6 * per_big:.0f} us ({per_big / per_small:.2f}x), "
                f"CPU per row {1e6 * cpu_small:.0f} -> {1e6 * cpu_big:.0f} us "
                f"({cpu_big / cpu_small:.2f}x); linear: <= 1.2x",
                flush=True,
            )


def cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


if __name__ == "__main__":
    main()
