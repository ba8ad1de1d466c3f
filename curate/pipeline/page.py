"""The "Run" section that heads ``report.html`` of ``curate run``: where every input record
went (kept per split, rejected per stage and reason), the split per stratum, leakage, gates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from curate.report.html import Markup, Section, badge, kv_table, para, table


def run_section(
    input_records: int,
    outputs: Mapping[str, int],
    rejected_by_stage: Mapping[str, Mapping[str, int]],
    split_report: Mapping[str, Any],
    gates_failed: Sequence[str],
) -> Section:
    """One page section summarising a run (the audit sections follow it)."""
    kept = sum(outputs.values())
    rejected = sum(n for reasons in rejected_by_stage.values() for n in reasons.values())
    leakage = split_report.get("leakage", {})
    summary = kv_table(
        {
            "input records": f"{input_records:,}",
            "kept": f"{kept:,} ({', '.join(f'{k} {v:,}' for k, v in outputs.items())})",
            "rejected": f"{rejected:,} (every one in rejects.jsonl with its line and reason)",
            "leakage across splits": f"{leakage.get('total', 0)} "
            f"(exact {leakage.get('exact', 0)}, near {leakage.get('near', 0)}, "
            f"semantic {leakage.get('semantic', 0)})",
        }
    )
    gate_html = (
        para("Gates: ") + Markup(" ".join(badge(g, "error") for g in gates_failed))
        if gates_failed
        else para("Gates: all passed.")
    )
    rejects = table(
        ["stage", "reason", "records"],
        [
            (stage, reason, n)
            for stage, reasons in rejected_by_stage.items()
            for reason, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        numeric=(2,),
    )
    sides = [k for k in ("train", "val", "test") if k in outputs]
    strata = table(
        ["stratum", "records", "status", *sides, "test target"],
        [
            (
                s["stratum"] or "(all)",
                s["records"],
                s["status"],
                *(s.get(k, 0) for k in sides),
                s.get("target", {}).get("test", ""),
            )
            for s in split_report.get("strata", [])
        ],
        numeric=(1, *range(3, 4 + len(sides))),
    )
    rule = split_report.get("rule", {}).get("too_small", "")
    body = (
        summary
        + gate_html
        + Markup("<h3>Rejected, by stage and reason</h3>")
        + (rejects if rejected else para("Nothing was rejected."))
        + Markup("<h3>Split, per stratum</h3>")
        + strata
        + (para(f"Rule: {rule}.") if rule else Markup(""))
    )
    return Section("Run", Markup(body))
