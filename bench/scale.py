"""`curate run --engine local` next to `--engine ray` (two Ray nodes on this machine), per size.

    python bench/scale.py --rows 100000,400000,1000000 --shards 8

For each size: takes ``chat-<rows>-<seed>.jsonl`` from ``--data-dir`` (read only), else the
first rows of a bigger file there (its truth restricted to them), else generates rows with
../shared/bench/gen_chat.py (planted exact/near copies and same-prompt hard negatives, with a
truth file) into ``--workdir``; cuts them into JSONL shards, runs
`curate run DIR --no-semantic` (``--semantic``: with the defaults, embeddings on) once per
engine as a child process, and prints side by side:
wall time, peak RSS of the driver (the curate process: ``driver rss``, all of it; ``driver own``,
less the object store's pages it has read, /proc's ``RssShmem``, which the store owns and
counts too) and of the biggest Ray worker process,
pair precision / recall of the dedup rejects against the truth, and whether the two engines'
outputs are byte-identical. ``--baseline REV`` also runs REV's Ray engine (its files from
git, first on PYTHONPATH) at ``--baseline-rows``, in the same run. Ray runs log the driver's
RSS at each progress line (``CURATE_RAY_RSS``): where the driver grows. Ends with a
projection, from the measured Ray CPU-seconds per row, for 100M rows on a 32-node cluster.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from gen_data import generate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from curate.engine.ray_rows import shared_rss  # noqa: E402

DUP_REASONS = {"exact_duplicate", "near_duplicate", "semantic_duplicate"}


def shard(data: Path, out: Path, n: int) -> int:
    """Cut ``data`` into ``n`` JSONL shards of consecutive lines; returns lines per shard."""
    lines = data.read_bytes().splitlines(keepends=True)
    per = -(-len(lines) // n)
    out.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        (out / f"part-{k:05d}.jsonl").write_bytes(b"".join(lines[k * per : (k + 1) * per]))
    return per


class Peak:
    """Polls RSS: the driver process (all of it, and its own: less the object store's pages),
    and every Ray worker process of this script's cluster."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.driver = 0
        self.driver_own = 0
        self.worker = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                rss = psutil.Process(self.pid).memory_info().rss
                self.driver = max(self.driver, rss)
                self.driver_own = max(self.driver_own, rss - shared_rss(self.pid))
            except psutil.NoSuchProcess:
                pass
            # This script's own cluster only (its raylets are our children, their workers
            # our grandchildren): other sessions' Ray workers on the machine do not count.
            for p in psutil.Process().children(recursive=True):
                try:
                    name = p.name() or ""
                    if name.startswith("ray::") or "default_worker.py" in " ".join(
                        p.cmdline() or []
                    ):
                        self.worker = max(self.worker, p.memory_info().rss)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            time.sleep(0.5)

    def done(self) -> tuple[float, float, float]:
        """Peaks in GiB: the driver's RSS, its own (RSS less the store's pages), biggest worker."""
        self.stop.set()
        self.thread.join()
        return self.driver / 2**30, self.driver_own / 2**30, self.worker / 2**30


def run(
    engine: str,
    shards: Path,
    out: Path,
    address: str | None,
    code: Path = ROOT,
    semantic: bool = False,
) -> tuple[float, float, float, float]:
    """Runs one engine; (wall s, driver peak RSS, driver's own peak (RSS less the object
    store's pages), biggest worker's peak RSS), in GiB."""
    cmd = [str(ROOT / ".venv/bin/curate"), "run", str(shards), "-o", str(out), "--overwrite"]
    cmd += ([] if semantic else ["--no-semantic"]) + ["--engine", engine]
    if address:
        cmd += ["--ray-address", address]
    env = {**os.environ, "PYTHONPATH": str(code), "RAY_DISABLE_USAGE_STATS": "1"}
    env["CURATE_RAY_RSS"] = "1"
    t0 = time.perf_counter()
    # Ray puts the driver's working folder first on its workers' sys.path: run each driver
    # from its code's folder so the workers run that code too (the baseline's, or this one).
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=str(code)
    )
    peak = Peak(proc.pid)
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    driver, own, worker = peak.done()
    (out.parent / f"{out.name}.stderr.log").write_bytes(err)
    if proc.returncode not in (0, 1):
        sys.exit(f"{engine} run failed:\n{err.decode()[-3000:]}")
    return wall, driver, own, worker


STAGE_LINE = re.compile(r"^(ray|run): \[\s*([0-9.]+)s[^]]*\] (.*)$")


def stage_seconds(log: Path) -> dict[str, float]:
    """Total seconds between consecutive progress lines, per prefix (ray: cluster, run: driver)."""
    totals: dict[str, float] = {"ray": 0.0, "run": 0.0}
    marks = [STAGE_LINE.match(x) for x in log.read_text(errors="replace").splitlines()]
    marks = [m for m in marks if m]
    for m1, m2 in zip(marks, marks[1:], strict=False):
        if m1.group(1) == m2.group(1):
            totals[m1.group(1)] += float(m2.group(2)) - float(m1.group(2))
    return totals


# "[driver rss X GiB]", or with the object store's pages in it "[driver rss X GiB, store Y]"
RSS = re.compile(r" \[driver rss ([0-9.]+) GiB(?:, store ([0-9.]+))?\]$")


def stages(log: Path) -> str:
    """Seconds between the progress lines the run printed (where the time went), and the
    driver's RSS at each line when logged."""
    marks = []
    for line in log.read_text(errors="replace").splitlines():
        m = STAGE_LINE.match(line)
        if m:
            what = m.group(3)
            rss = RSS.search(what)
            what = RSS.sub("", what)
            at = ""
            if rss:
                at = rss.group(1) + (f" (store {rss.group(2)})" if rss.group(2) else "")
            marks.append((m.group(1), float(m.group(2)), what[:38], at))
    out = []
    for (who, t, what, rss), (who2, t2, _, _) in zip(marks, marks[1:], strict=False):
        if who == who2:  # each prefix has its own clock
            at = f"  (driver {rss} GiB at its start)" if rss else ""
            out.append(f"      {who} {t2 - t:7.1f}s after: {what:38}{at}")
    return "\n".join(out)


def dataset(rows: int, seed: int, data_dir: Path, workdir: Path) -> tuple[Path, Path]:
    """(data, truth) for ``rows``: the shared file of that size, else the first ``rows`` lines
    of a bigger one (truth restricted to them), else generated into ``workdir``."""
    own = data_dir / f"chat-{rows}-{seed}.jsonl"
    if own.exists() and own.with_suffix(".truth.json").exists():
        return own, own.with_suffix(".truth.json")
    bigger = sorted(
        (int(p.name.split("-")[1]), p)
        for p in data_dir.glob(f"chat-*-{seed}.jsonl")
        if p.name.split("-")[1].isdigit() and int(p.name.split("-")[1]) > rows
    )
    if not bigger:
        return generate(rows, seed, workdir, quiet=True)
    src = bigger[0][1]
    data = workdir / f"chat-{rows}-{seed}-of-{bigger[0][0]}.jsonl"
    truth_path = data.with_suffix(".truth.json")
    if not data.exists() or not truth_path.exists():
        workdir.mkdir(parents=True, exist_ok=True)
        with open(src, "rb") as fin, open(data.with_suffix(".part"), "wb") as fout:
            for k, line in enumerate(fin):
                if k == rows:
                    break
                fout.write(line)
        truth = json.loads(src.with_suffix(".truth.json").read_text())
        base = int(truth.get("line_base", 1))
        clusters = [[x for x in c if x - base < rows] for c in truth["clusters"]]
        truth["clusters"] = [c for c in clusters if len(c) > 1]
        truth["rows"] = rows
        truth_path.write_text(json.dumps(truth))
        data.with_suffix(".part").rename(data)
    return data, truth_path


def pairs_score(out: Path, truth_path: Path, per: int) -> tuple[float, float]:
    """Precision / recall of (removed, survivor) pairs against the planted clusters."""
    truth = json.loads(truth_path.read_text())
    cluster_of = {}
    for k, members in enumerate(truth["clusters"]):
        for line in members:
            cluster_of[line] = k
    copies = {line for members in truth["clusters"] for line in members[1:]}

    def global_line(source: str, line: int) -> int:
        return int(Path(source).name[5:10]) * per + line

    tp = fp = 0
    found: set[int] = set()
    with open(out / "rejects.jsonl", "rb") as fh:
        for raw in fh:
            r = json.loads(raw)
            if r["reason"] not in DUP_REASONS:
                continue
            a = global_line(r["source"], r["line"])
            src, _, ln = r["duplicate_of"].rpartition(":")
            b = global_line(src, int(ln))
            if a in cluster_of and cluster_of.get(a) == cluster_of.get(b):
                tp += 1
                found.update((a, b))
            else:
                fp += 1
    recall = len(found & copies) / max(1, len(copies))
    return tp / max(1, tp + fp), recall


def semantic_agreement(data: Path, workdir: Path, address: str) -> None:
    """``curate dedup --method semantic --model fast`` on both engines: what each removes."""
    removed = {}
    for engine in ("local", "ray"):
        out = workdir / f"sem-{engine}"
        out.mkdir(parents=True, exist_ok=True)
        cmd = [str(ROOT / ".venv/bin/curate"), "dedup", str(data), "-o", str(out / "kept.jsonl")]
        cmd += ["--rejects", str(out / "rej.jsonl"), "--method", "semantic", "--model", "fast"]
        cmd += ["--no-cache", "--engine", engine]
        if engine == "ray":
            cmd += ["--ray-address", address]
        t0 = time.perf_counter()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run(
            cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
        )
        wall = time.perf_counter() - t0
        with open(out / "rej.jsonl", "rb") as fh:
            removed[engine] = {
                json.loads(x)["line"] for x in fh if json.loads(x)["reason"] == "semantic_duplicate"
            }
        print(f"semantic {engine:>5}: {len(removed[engine]):,} removed in {wall:.1f}s")
    both = removed["local"] & removed["ray"]
    print(
        f"semantic agreement: {len(both):,} removed by both; ray finds "
        f"{len(both) / max(1, len(removed['local'])):.4f} of local's removals, local finds "
        f"{len(both) / max(1, len(removed['ray'])):.4f} of ray's"
    )


def audit_compare(data: Path, workdir: Path, address: str) -> None:
    """``curate audit --json`` on both engines: wall, driver peak RSS, and equal reports."""
    reports = {}
    for engine in ("local", "ray"):
        out = workdir / f"audit-{engine}.json"
        cmd = [str(ROOT / ".venv/bin/curate"), "audit", str(data), "--json", "--engine", engine]
        cmd += ["--allow-rejects"]
        if engine == "ray":
            cmd += ["--ray-address", address]
        env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_DISABLE_USAGE_STATS": "1"}
        t0 = time.perf_counter()
        with open(out, "wb") as fh:
            proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.DEVNULL, env=env)
            peak = Peak(proc.pid)
            proc.wait()
        wall = time.perf_counter() - t0
        driver, _, worker = peak.done()
        reports[engine] = json.loads(out.read_text())
        print(
            f"audit {engine:>5}: {wall:7.1f}s, driver peak {driver:.2f} GiB, "
            f"biggest worker {worker:.2f} GiB, exit {proc.returncode}",
            flush=True,
        )
    same = reports["local"] == reports["ray"]
    print(f"audit reports identical: {same}", flush=True)


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for name in ("train.jsonl", "test.jsonl", "rejects.jsonl"):
        h.update((folder / name).read_bytes())
    return h.hexdigest()[:12]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default="100000", help="comma-separated sizes ('' for none)")
    ap.add_argument(
        "--local-rows",
        default=None,
        help="sizes at which the local engine runs too (comma list; default: every size)",
    )
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--data-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "curate-bench",
        help="generated data to reuse, read only (chat-<rows>-<seed>.jsonl + truth)",
    )
    ap.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "curate-scale",
        help="shards, outputs and any data generated here",
    )
    ap.add_argument("--baseline", default=None, help="also run this commit's Ray engine")
    ap.add_argument("--baseline-rows", default="", help="sizes for --baseline (comma list)")
    ap.add_argument("--node-cpus", type=int, default=1, help="CPUs per Ray node (2 nodes)")
    ap.add_argument(
        "--semantic",
        action="store_true",
        help="run with the defaults (embeddings, semantic dedup and leakage check on)",
    )
    ap.add_argument(
        "--semantic-rows", type=int, default=0, help="also compare semantic dedup at this size"
    )
    ap.add_argument(
        "--audit-rows", default="", help="also compare `curate audit` at these sizes (comma list)"
    )
    a = ap.parse_args()

    base_code = ROOT
    if a.baseline:
        from baseline import baseline_tree

        base_code = baseline_tree(a.baseline)
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": a.node_cpus, "include_dashboard": False},
    )
    cluster.add_node(num_cpus=a.node_cpus)
    cluster.wait_for_nodes()
    cpus = 2 * a.node_cpus
    print(
        f"{'rows':>9} {'engine':>12} {'wall s':>8} {'driver rss':>10} {'driver own':>10} "
        f"{'worker GiB':>10} "
        f"{'precision':>9} {'recall':>7} {'outputs':>12} {'cpu-s/1k rows':>13}"
    )
    per_row = []
    try:
        for rows in [int(x) for x in a.rows.split(",") if x]:
            data, truth = dataset(rows, a.seed, a.data_dir, a.workdir)
            shards = a.workdir / f"shards-{rows}-{a.shards}"
            if not shards.exists():
                shard(data, shards.with_suffix(".part"), a.shards)
                shards.with_suffix(".part").rename(shards)
            per = -(-sum(1 for _ in open(data, "rb")) // a.shards)
            local_rows = a.rows if a.local_rows is None else a.local_rows
            both = rows in [int(x) for x in local_rows.split(",") if x]
            engines = ["local", "ray"] if both else ["ray"]
            if a.baseline and rows in [int(x) for x in a.baseline_rows.split(",") if x]:
                engines.append(f"ray@{a.baseline}")
            for engine in engines:
                out = a.workdir / f"out-{rows}-{engine}"
                wall, driver, own, worker = run(
                    engine.partition("@")[0],
                    shards,
                    out,
                    cluster.address if engine != "local" else None,
                    base_code if "@" in engine else ROOT,
                    a.semantic,
                )
                prec, rec = pairs_score(out, truth, per)
                used = cpus if engine != "local" else 1
                cost = wall * used / rows * 1000
                if engine == "ray":
                    log = a.workdir / f"out-{rows}-ray.stderr.log"
                    secs = stage_seconds(log)
                    marks = [STAGE_LINE.match(x) for x in log.read_text().splitlines()]
                    last_ray = max(
                        [float(m.group(2)) for m in marks if m and m.group(1) == "ray"] or [0.0]
                    )
                    # The driver's own time: after the cluster's last step to the end.
                    per_row.append((secs["ray"] * cpus / rows, max(0.0, wall - last_ray) / rows))
                print(
                    f"{rows:>9,} {engine:>12} {wall:>8.1f} {driver:>10.3f} {own:>10.3f} "
                    f"{worker:>10.2f} "
                    f"{prec:>9.4f} {rec:>7.4f} {digest(out):>12} {cost:>13.2f}",
                    flush=True,
                )
                if engine != "local":
                    print(stages(a.workdir / f"out-{rows}-{engine}.stderr.log"), flush=True)
            if both:
                pair = (a.workdir / f"out-{rows}-{e}" for e in engines)
                same = len({digest(p) for p in pair}) == 1
                print(f"{rows:>9,} outputs identical between engines: {same}", flush=True)
            for e in engines:
                shutil.rmtree(a.workdir / f"out-{rows}-{e}", ignore_errors=True)
        for rows in [int(x) for x in a.audit_rows.split(",") if x]:
            data, _ = dataset(rows, a.seed, a.data_dir, a.workdir)
            print(f"curate audit, {rows:,} rows:", flush=True)
            audit_compare(data, a.workdir, cluster.address)
        if a.semantic_rows:
            data, _ = dataset(a.semantic_rows, a.seed, a.data_dir, a.workdir)
            semantic_agreement(data, a.workdir, cluster.address)
    finally:
        ray.shutdown()
        cluster.shutdown()
    if per_row:
        cluster_cost, driver_cost = per_row[-1]
        nodes, cores = 32, 16
        dist_h = 100e6 * cluster_cost / (nodes * cores) / 3600
        driver_h = 100e6 * driver_cost / 3600
        print(
            f"\nprojection for 100M rows on {nodes} nodes x {cores} cores, from the largest size:\n"
            f"  cluster stages (read..dedup, audit, split + writers): "
            f"{cluster_cost * 1e3:.2f} CPU-ms/row -> "
            f"{dist_h:.2f} h if they scale linearly\n"
            f"  driver stages (reports, page, concatenating the split files): "
            f"{driver_cost * 1e3:.2f} ms/row -> {driver_h:.1f} h on one driver"
        )


if __name__ == "__main__":
    main()
