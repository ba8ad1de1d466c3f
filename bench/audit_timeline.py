"""A timeline of `curate audit PATH --no-embeddings --json`: its processes, what each does when,
and how much of its CPU runs while the other core would idle (issue 15).

    python bench/audit_timeline.py data.jsonl [--baseline 3202ffb] [--repeat 2] [--keep DIR]

The command runs in a child with probes: a ``sitecustomize`` on its ``PYTHONPATH`` wraps the
audit's phases (reading, languages, diversity, the workers' tasks, the waits on futures) once
``curate.audit.run`` is imported, in the command's process and in the fork server (so in every
worker), and logs each span with its thread's CPU. This process polls ``/proc`` every 20 ms for
the CPU of every process and thread of the tree. On a shared machine the wall seconds are the
load's; what is read instead, per run:

- the CPU of each process (the command's own, the fork server, the reading workers, the
  findings worker);
- **serial CPU**: CPU spent while only one process of the tree wants a core (the command's
  own process, except while it waits on a future or on a pool starting; the fork server while
  it boots; the reading workers from their first task to their last; the findings worker
  during its task). On a quiet 2-core machine the other core idles then.
- an estimate of the quiet 2-core wall: serial + (total - serial) / 2.

``--baseline REV``: REV's code (``git archive``) and this tree's take turns; their reports
(minus timings) must be equal: this script exits 1 when they differ, and 2 when the command
itself fails (an exit status other than 0 or 1, its stderr, kept in ``stderr.log``, shown).
The probes add ~0.01 s of CPU per process.
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baseline import baseline_tree  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

PROBES = r'''
import functools, os, sys, threading, time
_DIR = os.environ.get("TL_DIR")
_files = {}


def _log(kind, name, t0, t1, c0=0.0, c1=0.0):
    pid = os.getpid()
    f = _files.get(pid)
    if f is None:
        f = _files[pid] = open(f"{_DIR}/ev-{pid}.log", "a", buffering=1)
    th = threading.current_thread().name
    f.write(f"{kind}\t{pid}\t{th}\t{name}\t{t0:.4f}\t{t1:.4f}\t{c1 - c0:.4f}\n")


def mark(name):
    _log("mark", name, time.monotonic(), time.monotonic(), 0.0, time.process_time())


def _wrap(owner, attr, label):
    fn = getattr(owner, attr, None)
    if fn is None or getattr(fn, "_tl", False):
        return

    @functools.wraps(fn)
    def w(*a, **k):
        t0, c0 = time.monotonic(), time.thread_time()
        try:
            return fn(*a, **k)
        finally:
            _log("span", label, t0, time.monotonic(), c0, time.thread_time())

    w._tl = True
    setattr(owner, attr, w)


def _install():
    import concurrent.futures as cf

    result = cf.Future.result

    def waited(self, timeout=None):
        t0 = time.monotonic()
        try:
            return result(self, timeout)
        finally:
            if time.monotonic() - t0 > 0.002:
                caller = sys._getframe(1).f_code.co_name
                _log("wait", f"result<-{caller}", t0, time.monotonic())

    cf.Future.result = waited
    import curate.audit.consistency as cons
    import curate.audit.run as run
    import curate.dedup.features as feat

    for a in ("read_for_audit", "audit", "compute_languages", "compute_diversity",
              "_collect_facts", "_ahead_features", "_ahead_facts", "_with_findings",
              "row_findings", "finish_report", "stream_facts", "chunk_facts"):
        _wrap(run, a, f"run.{a}")
    for a in ("_decode", "_fill", "_encode", "_work"):
        _wrap(feat, a, f"features.{a}")
    for a in ("_send", "_collect_one", "features", "_warm"):
        _wrap(feat.StreamHasher, a, f"SH.{a}")
    _wrap(cons, "record_findings", "consistency.record_findings")


if _DIR:
    import importlib.abc
    import importlib.machinery

    _log("start", "process", time.monotonic(), time.monotonic(), 0.0, time.thread_time())

    class _Hook(importlib.abc.MetaPathFinder):
        """The probes go in once curate.audit.run is imported (never in the resource
        tracker, which imports nothing of ours)."""

        def find_spec(self, name, path, target=None):
            if name != "curate.audit.run":
                return None
            sys.meta_path.remove(self)
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            real = spec.loader

            class Loader(importlib.abc.Loader):
                def create_module(self, spec):
                    return real.create_module(spec)

                def exec_module(self, module):
                    real.exec_module(module)
                    sys.modules[name] = module
                    t0, c0 = time.monotonic(), time.thread_time()
                    _install()
                    _log("span", "probes", t0, time.monotonic(), c0, time.thread_time())

            spec.loader = Loader()
            return spec

    sys.meta_path.insert(0, _Hook())
'''

CHILD = r"""
import atexit, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
os.dup2(fd, 1)
if sys.path and sys.path[0] == "":
    del sys.path[0]
import sitecustomize as tl
import curate
assert curate.__file__.startswith(sys.argv[2]), (curate.__file__, sys.argv[2])
from curate.cli import main
sys.argv = ["curate", "audit", sys.argv[3], "--no-embeddings", "--json"]
atexit.register(lambda: tl.mark("atexit"))
tl.mark("main()")
main()
"""


def record(tree: Path, path: str, out: Path) -> dict:
    """Run the command with ``tree``'s code and the probes; poll the tree's CPU."""
    out.mkdir(parents=True, exist_ok=True)
    site = out / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(PROBES)
    env = {
        **os.environ,
        "PYTHONPATH": f"{site}:{tree}",
        "TL_DIR": str(out),
        "CURATE_CACHE_DIR": str(out / "cache"),
    }
    t0 = time.monotonic()
    cmd = [sys.executable, "-c", CHILD, str(out / "report.json"), str(tree), path]
    errors = open(out / "stderr.log", "wb")  # (closed once the child exits)
    proc = subprocess.Popen(cmd, env=env, stderr=errors)
    tick = os.sysconf("SC_CLK_TCK")
    samples, tree_pids, scanned = [], [], 0.0
    while proc.poll() is None:
        now = time.monotonic()
        if now - scanned > 0.2:
            tree_pids, scanned = _descendants(proc.pid), now
        for pid in tree_pids:
            total, seen = 0.0, False
            for stat in glob.glob(f"/proc/{pid}/task/*/stat"):
                try:
                    fields = open(stat).read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                total += (int(fields[11]) + int(fields[12])) / tick
                seen = True
            if seen:  # (an exited process has no threads left to read: its last figure stands)
                samples.append((now - t0, pid, total))
        time.sleep(0.02)
    errors.close()
    if proc.returncode not in (0, 1):  # (1: the audit's findings; anything else failed)
        tail = (out / "stderr.log").read_text(errors="replace")[-2000:]
        print(f"curate audit ({tree}) exited {proc.returncode}:\n{tail}", file=sys.stderr)
        sys.exit(2)
    return {"t0": t0, "wall": time.monotonic() - t0, "main": proc.pid, "samples": samples}


def _descendants(root: int) -> list[int]:
    kids: dict[int, list[int]] = collections.defaultdict(list)
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            text = open(stat).read()
        except OSError:
            continue
        kids[int(text.rsplit(")", 1)[1].split()[1])].append(int(text.split(" ", 1)[0]))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += kids.get(pid, [])
    return out


def analyse(run: dict, out: Path) -> dict:
    main, t0 = run["main"], run["t0"]
    events = []
    for name in glob.glob(f"{out}/ev-*.log"):
        for line in open(name):
            kind, pid, thread, what, a, b, cpu = line.rstrip("\n").split("\t")
            events.append((kind, int(pid), thread, what, float(a) - t0, float(b) - t0, float(cpu)))
    cpu: dict[int, list[tuple[float, float]]] = collections.defaultdict(list)
    for t, pid, c in run["samples"]:
        cpu[pid].append((t, c))
    role: dict[int, tuple[str, list[tuple[float, float]]]] = {}
    for pid in cpu:
        spans = [e for e in events if e[1] == pid and e[0] == "span"]
        names = {e[3] for e in spans}
        if pid == main:
            continue
        if "features._work" in names:
            work = [e for e in spans if e[3] == "features._work"]
            role[pid] = ("reading worker", [(min(e[4] for e in work), max(e[5] for e in work))])
        elif "run.row_findings" in names:
            role[pid] = (
                "findings worker",
                [(e[4], e[5]) for e in spans if e[3] == "run.row_findings"],
            )
        elif "probes" in names:  # imported the audit: the fork server, booting until then
            booted = max(e[5] for e in spans if e[3] == "probes")
            role[pid] = ("fork server", [(cpu[pid][0][0] - 0.02, booted)])
        else:
            role[pid] = ("other", [])
    waits = [
        (e[4], e[5])
        for e in events
        if e[1] == main
        and e[2] == "MainThread"
        and (e[0] == "wait" or (e[3] == "SH._send" and e[5] - e[4] > 0.05 and e[6] < 0.01))
    ]

    def active(pid: int, t: float) -> bool:
        if pid == main:
            return not any(a <= t < b for a, b in waits)
        return any(a <= t < b for a, b in role[pid][1])

    read_end = max((e[5] for e in events if e[3] == "run.read_for_audit"), default=0.0)
    per_process: dict[str, float] = collections.defaultdict(float)
    serial: dict[str, float] = collections.defaultdict(float)
    total = 0.0
    for pid, series in cpu.items():
        name = "command" if pid == main else role[pid][0]
        first = series[0][1] if series[0][1] < 0.5 else 0.0
        spent = max(c for _, c in series)  # (CPU never falls: a lower figure is a misread)
        per_process[name] += spent
        total += spent
        prev_t, prev_c = series[0][0], first
        for t, c in series:
            if c > prev_c:
                mid = (t + prev_t) / 2
                if sum(active(p, mid) for p in cpu) <= 1:
                    phase = "while reading" if mid < read_end else "after reading"
                    serial[f"{name}, {phase}"] += c - prev_c
            prev_t, prev_c = t, max(c, prev_c)
    spans = {
        e[3]: round(e[6], 2)
        for e in events
        if e[1] == main and e[2] == "MainThread" and e[0] == "span" and e[3].startswith("run.")
    }
    return {
        "wall": run["wall"],
        "total": total,
        "per_process": dict(per_process),
        "serial": dict(serial),
        "serial_total": sum(serial.values()),
        "main_spans": spans,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("path")
    ap.add_argument("--baseline", default=None, help="a commit to run in turns with this tree")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--keep", default=None, help="folder for the event logs (default: temp)")
    a = ap.parse_args()
    base = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="curate-timeline-"))
    trees = [("new", ROOT)]
    if a.baseline:
        trees.insert(0, (a.baseline, baseline_tree(a.baseline)))
    path = os.path.abspath(a.path)
    reports: dict[str, dict] = {}
    differ = False
    for k in range(a.repeat):
        for label, tree in trees:
            out = base / f"{label}-{k + 1}"
            got = analyse(record(tree, path, out), out)
            report = json.loads((out / "report.json").read_text())
            report.pop("timings", None)
            reports[label] = report
            quiet = got["serial_total"] + (got["total"] - got["serial_total"]) / 2
            print(
                f"{label:<10} run {k + 1}: CPU {got['total']:.2f} s, "
                f"serial {got['serial_total']:.2f} s, quiet 2-core wall estimate {quiet:.2f} s "
                f"(wall here {got['wall']:.1f} s, "
                f"load {os.getloadavg()[0]:.1f})"
            )
            print(
                "    CPU per process: "
                + ", ".join(f"{n} {c:.2f}" for n, c in sorted(got["per_process"].items()))
            )
            print(
                "    serial CPU: "
                + ", ".join(f"{n} {c:.2f}" for n, c in sorted(got["serial"].items()) if c >= 0.01)
            )
            print(
                "    command's phases (thread CPU): "
                + ", ".join(f"{n[4:]} {c:.2f}" for n, c in got["main_spans"].items())
            )
        if len(reports) == 2:
            same = reports["new"] == reports[trees[0][0]]
            print(f"reports {'identical' if same else 'DIFFERENT'}")
            differ = differ or not same
    if differ:
        sys.exit(1)


if __name__ == "__main__":
    main()
