"""General-ability regression check: did fine-tuning make the model worse elsewhere?

The same task metrics are computed for base and fine-tune on a separate set (``--regression
FILE``, chat records with reference answers). A higher-is-better metric whose mean drops by
more than ``threshold`` (absolute, e.g. 0.05 = five points of F1) is flagged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from curate.evaluate.metrics import HIGHER_IS_BETTER, compare_means


def regression_findings(
    base: Mapping[str, float], tuned: Mapping[str, float], threshold: float
) -> dict[str, Any]:
    """Metric table plus the list of flagged drops (``metric``, ``base``, ``tuned``, ``drop``)."""
    table = compare_means(base, tuned)
    flagged = []
    for metric in HIGHER_IS_BETTER:
        row = table.get(metric)
        if row is None or row["delta"] is None:
            continue
        drop = -row["delta"]
        if drop > threshold:
            flagged.append(
                {"metric": metric, "base": row["base"], "tuned": row["tuned"], "drop": drop}
            )
    return {
        "threshold": threshold,
        "metrics": table,
        "flagged": flagged,
        "regressed": bool(flagged),
    }


def describe(findings: Mapping[str, Any]) -> Sequence[str]:
    """One human line per flagged metric."""
    return [
        f"regression: {f['metric']} fell {f['base']:.3f} -> {f['tuned']:.3f} "
        f"(drop {f['drop']:.3f} > {findings['threshold']})"
        for f in findings["flagged"]
    ]
