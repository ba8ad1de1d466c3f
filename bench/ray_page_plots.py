"""The Ray driver's page plots: peak Python heap of drawing per-row series held as histograms.

    cd bench && python ray_page_plots.py --baseline 3894a38

`curate run --engine ray` keeps the audit's plot series (user turns, tokens per role) as
histograms on the driver (``curate.engine.ray_audit.HistSeries``). Drawing them, the
baseline's ``curate.report.plots.histogram`` expanded each to one float per row (~47 bytes
a row with matplotlib's copies); this tree's draws them from their values and counts
(weights). Prints, per size, the peak traced heap (tracemalloc) and CPU seconds of both, in
one run, and whether the PNGs are byte-identical.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from baseline import baseline_tree  # noqa: E402

from curate.engine.ray_audit import HistSeries  # noqa: E402
from curate.report import plots as new  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", default="3894a38")
    ap.add_argument("--rows", default="100000,400000,1000000")
    a = ap.parse_args()
    path = baseline_tree(a.baseline) / "curate/report/plots.py"
    spec = importlib.util.spec_from_file_location("baseline_plots", path)
    old = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(old)  # type: ignore[union-attr]
    for mod in (new, old):  # matplotlib imported before anything is measured
        mod.histogram({"x": [1, 2, 3]}, "warm", log_x=True)
    rng = np.random.default_rng(0)
    for rows in [int(x) for x in a.rows.split(",") if x]:
        tok = {
            r: HistSeries(Counter(np.rint(rng.lognormal(m, 0.8, rows)).astype(int).tolist()))
            for r, m in (("user", 3.5), ("assistant", 5.0), ("system", 3.0))
        }
        turns = HistSeries(Counter(rng.integers(1, 6, rows).tolist()))
        got = []
        for name, mod in ((a.baseline, old), ("this tree", new)):
            tracemalloc.start()
            t = time.process_time()
            if mod is old:  # as the baseline's audit_charts handed them over: float arrays
                st = {"user turns": np.asarray(turns, dtype=float)}
                sk = {r: np.asarray(v, dtype=float) for r, v in tok.items()}
            else:
                st, sk = {"user turns": turns}, dict(tok)
            pngs = (
                mod.histogram(st, "t", "turns", discrete=True),
                mod.histogram(sk, "k", "tokens", log_x=True),
            )
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            got.append((name, peak / 2**20, time.process_time() - t, pngs))
        cells = "  ".join(f"{n}: peak {p:5.1f} MiB, {c:4.2f} CPU s" for n, p, c, _ in got)
        print(f"{rows:>9} rows  {cells}  PNGs identical: {got[0][3] == got[1][3]}")


if __name__ == "__main__":
    main()
