"""``report.html`` of ``curate run``: the "Run" section that heads it (where every input record
went, the split per stratum, leakage, gates), then the audit sections, then duplicates side by
side, the rejects browser and, with a tokenizer, what the trainer sees.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from curate.records import Record
from curate.report.html import Markup, Section, badge, kv_table, para, table

MAX_LEAKS_SHOWN = 10
PREVIEW_RECORDS = 5


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
                _num(s.get("target", {}).get("test", "")),
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


def _num(x: Any) -> Any:
    """A float target as ``89,074.5`` rather than ``8.907e+04``."""
    return f"{x:,.1f}" if isinstance(x, float) else x


def collect_dupes(records: Sequence[Record], dres: Any, key: str) -> dict[str, Any]:
    """Dedup's largest clusters as the page shows them (call before the records are freed)."""
    from curate.dedup.normalize import key_text
    from curate.report.dupes import collect_dupes as collect

    out = collect(records, dres, lambda r: key_text(r, key))
    out["key"] = key
    return out


def _leak_pairs(records: Sequence[Record], leakage: Mapping[str, Any], key: str) -> list[dict]:
    """The leakage check's example pairs (refs) with their texts, for side-by-side display."""
    from curate.dedup.normalize import key_text
    from curate.report.records import clip

    examples = list(leakage.get("examples", []))[:MAX_LEAKS_SHOWN]
    if not examples:
        return []
    wanted = {e["record"] for e in examples} | {e["duplicate_of"] for e in examples}
    found = {r.ref: r for r in records if r.ref in wanted}
    out = []
    for e in examples:
        a, b = found.get(e["record"]), found.get(e["duplicate_of"])
        if a is None or b is None:
            continue
        out.append(
            {
                "method": e.get("method", ""),
                "a": {"where": a.ref, "text": clip(key_text(a, key), 3000)[0]},
                "b": {"where": b.ref, "text": clip(key_text(b, key), 3000)[0]},
            }
        )
    return out


def run_page(
    areport: Any,
    *,
    title: str,
    head: Section,
    audited: Sequence[Record],
    sres: Any,
    split_input: Sequence[Record],
    dupes: Mapping[str, Any],
    rejects: Path,
    rejected_by_stage: Mapping[str, Mapping[str, int]],
    tokenizer: str | None = None,
    max_tokens: int | None = None,
    dupes_body: Markup | None = None,
    charts: Mapping[str, Markup] | None = None,
) -> str:
    """The whole ``report.html`` of a run.

    ``dupes_body`` (``curate.report.dupes.dupes_body``) and ``charts`` (``curate.report.
    audit_page.draw_charts``): the parts already made beside the run (``curate.pipeline.
    aside``); made here when None.
    """
    from curate.report.audit_page import render_audit_page
    from curate.report.dupes import dupes_section
    from curate.report.evidence import Placement
    from curate.report.rejects import read_rejects, rejects_section

    placement = Placement(sres.splits, split_input, sres.strata)
    key = dupes.get("key", "conversation") if isinstance(dupes, Mapping) else "conversation"
    leaks = _leak_pairs(split_input, sres.leakage, sres.leakage.get("key", key))
    after = [
        Section("Duplicates", dupes_section(dupes, leaks, dupes_body)),
        Section("Rejects", rejects_section(rejected_by_stage, read_rejects(rejects))),
    ]
    if tokenizer:
        from train.preview import preview_section

        train = sres.splits.get("train", [])
        after.append(
            Section(
                "What the trainer sees",
                preview_section(
                    tokenizer,
                    [r.data for r in train[:PREVIEW_RECORDS]],
                    max_tokens,
                    names=[f"train: {r.source}:{r.line}" for r in train[:PREVIEW_RECORDS]],
                ),
            )
        )
    return render_audit_page(
        areport,
        title=title,
        before=[head],
        after=after,
        records=audited,
        place=placement.place,
        split_of=lambda idx: placement.sides([audited[i] for i in idx]),
        charts=charts,
    )
