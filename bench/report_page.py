"""Benchmark the report page: its size and how long headless chromium takes to open it.

    python bench/report_page.py                      # worst case vs a one-table baseline
    python bench/report_page.py OUT/report.html ...  # also real reports (e.g. a 100k-row run)

The worst case fills every capped list of the page to its cap with records at the per-record
character cap (50 records x 10 finding codes, 25 rejects x 20 reasons, 30 duplicate clusters
with 5 removed members): whatever the input's size, a real report holds at most this much.
Open time is the page's own navigation timing (load event end), read in the page by a small
probe script, next to the wall time of the whole chromium process; the baseline is a page
with one table, so chromium's start-up cost shows beside it.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curate.report.dupes import MAX_CLUSTERS, MAX_REMOVED_SHOWN, dupes_section  # noqa: E402
from curate.report.evidence import MAX_PER_FINDING  # noqa: E402
from curate.report.html import Markup, Section, html_page, table  # noqa: E402
from curate.report.records import (  # noqa: E402
    PAGE_SCRIPT,
    RECORD_CSS,
    RecordView,
    filter_bar,
    record_list,
)
from curate.report.rejects import MAX_PER_REASON  # noqa: E402

WORDS = "the model <b> answer & data train test split record </details> token loss".split()
FINDING_CODES = 10
REJECT_REASONS = 20

PROBE = (
    "<script>window.addEventListener('load', () => setTimeout(() => {"
    "const n = performance.getEntriesByType('navigation')[0];"
    "document.body.setAttribute('data-open-ms', Math.round(n.loadEventEnd));"
    "}, 0));</script>"
)


def text(rng: random.Random, chars: int) -> str:
    out, n = [], 0
    while n < chars:
        w = rng.choice(WORDS)
        out.append(w)
        n += len(w) + 1
    return " ".join(out)


def big_record(rng: random.Random, line: int, code: str) -> RecordView:
    msgs = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": text(rng, 1500)}
        for i in range(40)
    ]
    return RecordView("big.jsonl", line, {"messages": msgs, "category": "x"}, "why", [code])


def worst_case_page() -> str:
    rng = random.Random(0)
    sections = []
    body = []
    for c in range(FINDING_CODES):
        views = [big_record(rng, c * 1000 + i, f"code{c}") for i in range(MAX_PER_FINDING)]
        body.append(record_list(views, 100_000, MAX_PER_FINDING, "records"))
    sections.append(Section("Findings", Markup("".join(body))))
    body = []
    for r in range(REJECT_REASONS):
        views = [big_record(rng, r * 1000 + i, f"rejected:r{r}") for i in range(MAX_PER_REASON)]
        body.append(record_list(views, 100_000, MAX_PER_REASON, "rejected records"))
    sections.append(Section("Rejects", Markup("".join(body))))
    clusters = []
    for k in range(MAX_CLUSTERS):
        base = text(rng, 3000)
        clusters.append(
            {
                "method": "near",
                "size": 50,
                "keep": {"where": f"big.jsonl:{k}", "text": base},
                "removed": [
                    {
                        "where": f"big.jsonl:{k}-{j}",
                        "text": base[:-40] + text(rng, 40),
                        "similarity": 0.9,
                    }
                    for j in range(MAX_REMOVED_SHOWN)
                ],
                "more": 45,
            }
        )
    dupes = {"clusters": clusters, "total_clusters": 99_999, "by_method": {}, "explain": {}}
    sections.append(Section("Duplicates", dupes_section(dupes)))
    return html_page(
        "worst case", sections, extra_css=RECORD_CSS, lead=filter_bar(), script=PAGE_SCRIPT
    )


def open_time(page: Path, work: Path) -> tuple[float, float]:
    """(page load-event-end ms, chromium process wall s) for ``page``."""
    probe = work / f"probe-{page.stem}.html"
    probe.write_text(
        page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8"
    )
    t0 = time.perf_counter()
    out = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            f"--user-data-dir={work / ('p-' + page.stem)}",
            "--virtual-time-budget=60000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    wall = time.perf_counter() - t0
    m = re.search(r'data-open-ms="(\d+)"', out.stdout)
    return (float(m.group(1)) if m else float("nan")), wall


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="report-bench-"))
    pages = {"baseline (one table)": work / "baseline.html", "worst case": work / "worst.html"}
    pages["baseline (one table)"].write_text(
        html_page("baseline", [Section("T", table(["a"], [[1]]))]), encoding="utf-8"
    )
    pages["worst case"].write_text(worst_case_page(), encoding="utf-8")
    for arg in sys.argv[1:]:
        pages[arg] = Path(arg)
    print(f"{'page':<48} {'size MB':>9} {'open ms':>9} {'chromium s':>11}")
    for name, path in pages.items():
        ms, wall = open_time(path, work)
        size = path.stat().st_size / 1e6
        print(f"{name[-48:]:<48} {size:>9.2f} {ms:>9.0f} {wall:>11.1f}")


if __name__ == "__main__":
    main()
