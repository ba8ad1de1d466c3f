"""Small, generic matplotlib charts returned as data URIs, ready for ``html.img``.

Each function builds a pyplot-free ``Figure`` (no global state, no GUI backend), so reports can
be rendered from any thread or process and stay byte-identical for the same input.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from curate.report.html import figure_to_data_uri, new_figure

COLORS = ["#2458a6", "#d9822b", "#1f7a3d", "#b42318", "#6b4fbb", "#0f8a8a", "#8a6d0f", "#5b6577"]


# 5.4 x 3.0 inches at 100 dpi: two plots side by side fit a 1200 px page.
WIDTH, HEIGHT = 5.4, 3.0


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    ylabel: str = "",
    horizontal: bool = False,
    width: float = WIDTH,
    height: float = HEIGHT,
) -> str:
    """A bar chart (vertical, or horizontal for long labels) as a PNG data URI."""
    fig, ax = new_figure(width, height)
    pos = np.arange(len(values))
    if horizontal:
        ax.barh(pos, values, color=COLORS[0])
        ax.set_yticks(pos, [str(x) for x in labels])
        ax.invert_yaxis()
        ax.set_xlabel(ylabel)
    else:
        ax.bar(pos, values, color=COLORS[0])
        # Beyond 20 bars, label every few so the labels stay readable.
        step = max(1, -(-len(labels) // 20))
        ax.set_xticks(
            pos[::step],
            [str(x) for x in labels][::step],
            rotation=45 if len(labels) // step > 8 else 0,
        )
        ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="x" if horizontal else "y", alpha=0.3)
    return figure_to_data_uri(fig)


def grouped_bar_chart(
    labels: Sequence[str],
    series: Mapping[str, Sequence[float]],
    title: str,
    ylabel: str = "",
    width: float = WIDTH,
    height: float = HEIGHT,
) -> str:
    """Bars for several named series side by side per label (e.g. language share per role)."""
    fig, ax = new_figure(width, height)
    n = max(1, len(series))
    step = 0.8 / n
    pos = np.arange(len(labels))
    for i, (name, vals) in enumerate(series.items()):
        ax.bar(pos + (i - (n - 1) / 2) * step, vals, step, label=name, color=COLORS[i % 8])
    ax.set_xticks(pos, [str(x) for x in labels], rotation=45 if len(labels) > 8 else 0)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    if len(series) > 1:
        # Below the axes: full-height bars leave no free corner for a legend.
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=len(series))
    return figure_to_data_uri(fig)


def weighted(series: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """A series' values as floats, and their weights: a series held as its histogram (an
    object with ``weighted()`` giving distinct values and their counts, e.g. the Ray audit's
    ``HistSeries``) is drawn from those, not expanded to one value per row (the same bars);
    any other series is its values with no weights."""
    compact = getattr(series, "weighted", None)
    if compact is not None:
        values, counts = compact()
        return np.asarray(values, dtype=float), np.asarray(counts)
    return np.asarray(series, dtype=float), None


def histogram(
    series: Mapping[str, Sequence[float]],
    title: str,
    xlabel: str = "",
    bins: int = 30,
    log_x: bool = False,
    discrete: bool = False,
    width: float = WIDTH,
    height: float = HEIGHT,
) -> str:
    """Overlaid histograms of one or more named value series.

    ``log_x`` uses log-spaced bins (token lengths span orders of magnitude); ``discrete`` puts
    one bar per integer (turn counts).
    """
    # Imported here: a page whose charts a worker draws never loads matplotlib (~1 s).
    from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter, ScalarFormatter

    fig, ax = new_figure(width, height)
    arrays = {k: weighted(v) for k, v in series.items() if len(v)}
    if arrays:
        lo = min(float(a.min()) for a, _ in arrays.values())
        hi = max(float(a.max()) for a, _ in arrays.values())
        if discrete:
            edges = np.arange(np.floor(lo), np.ceil(hi) + 2) - 0.5
            if hi - lo <= 20:
                ax.set_xticks(np.arange(np.floor(lo), np.ceil(hi) + 1))
            else:
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        elif log_x:
            lo = max(lo, 1.0)
            edges = np.geomspace(lo, max(hi, lo * 1.01), bins + 1)
            ax.set_xscale("log")
            # Plain numbers (10, 100, 1000) read better than 10^1 and crowded minor labels.
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
        else:
            edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
        alpha = 0.55 if len(arrays) > 1 else 0.9
        for i, (name, (arr, w)) in enumerate(arrays.items()):
            vals = np.maximum(arr, 1.0) if log_x else arr
            ax.hist(vals, bins=edges, weights=w, alpha=alpha, label=name, color=COLORS[i % 8])
        if len(arrays) > 1:
            # A fixed corner: matplotlib's "best" placement is timed, and warns when it is slow
            # (a busy machine), which would put a warning in the run's output.
            ax.legend(fontsize=8, loc="upper right")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.grid(axis="y", alpha=0.3)
    return figure_to_data_uri(fig)
