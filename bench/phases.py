"""Where a `curate run` holds its memory: the run process's RSS per phase, in one process.

    PYTHONPATH=$PWD python bench/phases.py DATA.jsonl OUT_DIR [--no-semantic] [--every 0.05]
        [--heap [--trim]]

Runs `curate run` (the bench's settings: fast model, exact/near/semantic, label and stratify
by category, a cold embedding cache under OUT_DIR) in this process, with a thread that reads
/proc/self/statm and the main thread's stack every ``--every`` seconds. Each sample is filed
under its stage (the outermost ``*Stage.__call__`` or ``_Logged`` stage on the stack, else
the outermost curate function) and the innermost curate function. Prints, per stage, the
peak RSS and where it was; then the ten highest (stage, function) peaks. The hashing workers'
memory is not in it (bench/run.py counts the process tree). Wall time here is load: use it
for the memory only.

``--heap``: each stage's log line also says how much of glibc's heap is free (held, unused);
``--trim`` with it: and calls ``malloc_trim(0)`` there, logging the RSS before and after (what
``curate.heap.release_free_heap`` would give back at that point).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
import threading
import time
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")
GIB = 1 << 30


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


def _where(frame) -> tuple[str, str]:
    """(stage, innermost curate function) of a stack."""
    stage = outer = inner = ""
    while frame is not None:
        code = frame.f_code
        if "/curate/" in code.co_filename and "/bench/" not in code.co_filename:
            name = code.co_qualname
            inner = inner or name
            outer = name
            if name.endswith("Stage.__call__") or name.endswith("_Logged.__call__"):
                stage = name
            if name == "_Logged.__call__":
                inner_stage = frame.f_locals.get("self")
                label = getattr(inner_stage, "name", None) or getattr(
                    getattr(inner_stage, "stage", None), "name", None
                )
                if label:
                    stage = f"stage {label}"
        frame = frame.f_back
    return stage or ("(no stage) " + outer if outer else "(outside curate)"), inner or "-"


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks"
        " keepcost".split()
    ]


def _log_free_heap(trim: bool) -> None:
    """Each stage's log line also says how much of glibc's heap is free (held, unused);
    ``trim``: and what ``malloc_trim(0)`` gives back there."""
    import curate.pipeline.run as run

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    log = run._log

    def logged(message: str) -> None:
        info = libc.mallinfo2()
        note = f"heap {info.arena / GIB:.3f} GiB, free {info.fordblks / GIB:.3f} GiB"
        if trim:
            before = _rss()
            libc.malloc_trim(0)
            note += f"; malloc_trim(0): RSS {before / GIB:.3f} -> {_rss() / GIB:.3f} GiB"
        log(f"{message} [{note}]")

    run._log = logged


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--no-semantic", action="store_true")
    ap.add_argument("--every", type=float, default=0.05)
    ap.add_argument("--heap", action="store_true", help="log glibc's free heap at each stage")
    ap.add_argument(
        "--trim", action="store_true", help="with --heap: malloc_trim(0) there, RSS before/after"
    )
    a = ap.parse_args()
    if a.trim and not a.heap:
        ap.error("--trim goes with --heap")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = out / "curate.yaml"
    cfg.write_text(
        "dedup:\n  model: fast\n  methods: [exact, near"
        f"{'' if a.no_semantic else ', semantic'}]\n"
        "audit:\n  label: category\nsplit:\n  stratify: [category]\n"
    )
    os.environ.setdefault("CURATE_CACHE_DIR", str(out / "cache"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from curate.cli import main as cli

    if a.heap:
        _log_free_heap(a.trim)

    main_id = threading.get_ident()
    peaks: dict[tuple[str, str], tuple[int, float]] = {}
    done = threading.Event()
    t0 = time.perf_counter()

    import psutil

    me = psutil.Process()
    tree_peak = [0]

    def sample() -> None:
        kids_uss, count = 0, 0
        while not done.wait(a.every):
            count += 1
            if count % 20 == 0:  # the workers' unique memory, as bench/run.py counts it
                kids_uss = 0
                for kid in me.children(recursive=True):
                    try:
                        kids_uss += kid.memory_full_info().uss
                    except psutil.Error:
                        pass
            frame = sys._current_frames().get(main_id)
            if frame is None:
                continue
            key = _where(frame)
            rss = _rss()
            tree_peak[0] = max(tree_peak[0], rss + kids_uss)
            if rss > peaks.get(key, (0, 0.0))[0]:
                peaks[key] = (rss, time.perf_counter() - t0)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    args = ["run", a.data, "-o", str(out / "run"), "--config", str(cfg)]
    code = 0
    try:
        cli.main(args + (["--no-semantic"] if a.no_semantic else []), standalone_mode=False)
    except SystemExit as exc:  # click's exit codes
        code = int(exc.code or 0)
    finally:
        done.set()
        thread.join()
    by_stage: dict[str, tuple[int, str, float]] = {}
    for (stage, fn), (rss, at) in peaks.items():
        if rss > by_stage.get(stage, (0, "", 0.0))[0]:
            by_stage[stage] = (rss, fn, at)
    print(
        f"exit {code}; wall {time.perf_counter() - t0:.0f} s; CPU {time.process_time():.0f} s;"
        f" process tree peak {tree_peak[0] / GIB:.3f} GiB (workers sampled every"
        f" {20 * a.every:g} s); RSS GiB of the run process:"
    )
    for stage, (rss, fn, at) in sorted(by_stage.items(), key=lambda kv: kv[1][2]):
        print(f"  {rss / GIB:6.3f}  at {at:7.1f} s  {stage}  ({fn})")
    print("highest:")
    for (stage, fn), (rss, at) in sorted(peaks.items(), key=lambda kv: -kv[1][0])[:10]:
        print(f"  {rss / GIB:6.3f}  at {at:7.1f} s  {stage} / {fn}")


if __name__ == "__main__":
    main()
